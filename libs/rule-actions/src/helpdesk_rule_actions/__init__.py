"""What a rule can do, for every kind of rule: action rules and SLA rules (rule-engine) and
time rules (scheduler).

- ``actions``: the action models as rules store them, validated when a rule is saved;
- ``validation``: what pydantic cannot see alone (conditions, "every ticket" asked for,
  purge placement);
- ``references``: departments, agents and SLA levels a rule names must exist at save;
- ``plan``: what firing a rule does to a ticket (ticket-api actions, notifier requests);
- ``templates``: the Jinja sandbox action texts are rendered in.
"""
