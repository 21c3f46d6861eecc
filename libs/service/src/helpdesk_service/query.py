"""Types for query parameters that take exactly what the OpenAPI document says.

pydantic reads a number as a Unix time where a datetime is expected (``?created_before=0.5``
would mean 1970); a query parameter documented as ``date-time`` takes an RFC 3339 text."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?")


def _rfc3339_text(value: Any) -> Any:
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "datetime_format", "give a date and time such as 2026-05-01T09:30:00Z"
        )
    return value


QueryDateTime = Annotated[datetime, BeforeValidator(_rfc3339_text)]
