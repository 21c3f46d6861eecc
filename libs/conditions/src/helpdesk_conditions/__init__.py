"""The condition language shared by rules, SLA rules and time rules.

One model (``ConditionSet``: any of groups, all conditions of a group), two compilers that
agree: ``compile_python`` (a predicate over a ``TicketSnapshot``, for the rule engine) and
``compile_sql`` (a WHERE clause over ticket-api's tables, for searches and time rules).
See README.md for the language.
"""

from helpdesk_events.vocabulary import (
    AVAILABILITY,
    CHANNELS,
    MESSAGE_AUTHORS,
    PRIORITIES,
    SOCIAL_CHANNELS,
    STATUSES,
)

from .fields import (
    FIELDS,
    OPERATORS,
    CustomField,
    CustomFieldType,
    FieldSpec,
    FieldType,
    TimeUnit,
)
from .model import (
    EVERY_TICKET,
    Condition,
    ConditionError,
    ConditionGroup,
    ConditionIssue,
    ConditionSet,
    awaiting_customer_48_hours,
    parse_conditions,
    validate_conditions,
)
from .python import (
    Changes,
    ConditionTrace,
    GroupTrace,
    Predicate,
    PythonConditions,
    PythonRuleSet,
    RuleSetMatcher,
    Trace,
    compile_python,
    compile_rule_set,
)
from .regex import MAX_PATTERN_LENGTH, RegexSubsetError, SafeRegex, parse_regex
from .sql import ICU_COLLATION, TicketTables, compile_sql, sql_fold
from .text import fold, like_escape

__all__ = [
    "AVAILABILITY",
    "CHANNELS",
    "EVERY_TICKET",
    "FIELDS",
    "ICU_COLLATION",
    "MAX_PATTERN_LENGTH",
    "MESSAGE_AUTHORS",
    "OPERATORS",
    "PRIORITIES",
    "SOCIAL_CHANNELS",
    "STATUSES",
    "Changes",
    "Condition",
    "ConditionError",
    "ConditionGroup",
    "ConditionIssue",
    "ConditionSet",
    "ConditionTrace",
    "CustomField",
    "CustomFieldType",
    "FieldSpec",
    "FieldType",
    "GroupTrace",
    "Predicate",
    "PythonConditions",
    "PythonRuleSet",
    "RegexSubsetError",
    "RuleSetMatcher",
    "SafeRegex",
    "TicketTables",
    "TimeUnit",
    "Trace",
    "awaiting_customer_48_hours",
    "compile_python",
    "compile_rule_set",
    "compile_sql",
    "fold",
    "like_escape",
    "parse_conditions",
    "parse_regex",
    "sql_fold",
    "validate_conditions",
]
