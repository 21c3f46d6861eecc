"""Action texts are Jinja templates rendered in Jinja's sandbox.

Placeholders: ``{{ ticket.code }}``, ``{{ ticket.subject }}``, ``{{ ticket.status }}``,
``{{ ticket.customer_email }}``, ``{{ ticket.tags | join(", ") }}``, ``{{ message.body }}``
(the last message)… every field of the ticket snapshot (docs/events.md). The sandbox
refuses access to Python internals; output is capped so a template cannot blow up memory.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_OUTPUT = 100_000

_env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=True)


class TemplateError(ValueError):
    pass


def check_template(source: str) -> None:
    """Raise ValueError (for pydantic) when the template does not compile."""
    try:
        _compile(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template error at line {exc.lineno}: {exc.message}") from exc


@lru_cache(maxsize=4096)
def _compile(source: str) -> Any:
    return _env.from_string(source)


def render(source: str, context: dict[str, Any]) -> str:
    if "{" not in source:
        return source
    try:
        out = str(_compile(source).render(context))
    except SecurityError as exc:
        raise TemplateError(f"template refused by the sandbox: {exc}") from exc
    except Exception as exc:
        raise TemplateError(f"template failed: {exc}") from exc
    return out[:MAX_OUTPUT]
