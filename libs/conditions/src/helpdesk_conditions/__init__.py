"""The condition language shared by rules, SLA rules and time rules."""
