"""What firing a rule does: ticket changes for ticket-api, requests for the notifier."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from helpdesk_events import OutboundRequest, TicketSnapshot

from .actions import (
    AddTags,
    CallUrl,
    ChangePriority,
    ChangeSlaLevel,
    ChangeSubject,
    Delete,
    HttpRequest,
    MarkNotSpam,
    MarkSpam,
    Purge,
    RemoveTags,
    Resolve,
    SendAnswer,
    SendEmail,
    StopRules,
    Transfer,
)
from .templates import TemplateError, render

_TICKET_ACTIONS_WITHOUT_SETTINGS = {
    Resolve: {"type": "resolve"},
    Delete: {"type": "delete"},
    MarkSpam: {"type": "mark_spam"},
    MarkNotSpam: {"type": "mark_not_spam"},
    Purge: {"type": "purge"},
}


@dataclass
class Plan:
    ticket_actions: list[dict[str, Any]] = field(default_factory=list)
    outbound: list[OutboundRequest] = field(default_factory=list)
    stop: bool = False
    errors: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {
            "ticket_actions": self.ticket_actions,
            "outbound": [o.model_dump(mode="json", exclude={"dedupe_key"}) for o in self.outbound],
            "stop_other_rules": self.stop,
            "errors": self.errors,
        }


def template_context(ticket: TicketSnapshot) -> dict[str, Any]:
    data = ticket.model_dump(mode="json")
    return {"ticket": data, "message": data.get("last_message") or {}}


def plan_actions(actions: tuple[Any, ...], ticket: TicketSnapshot, dedupe_prefix: str) -> Plan:
    plan = Plan()
    # Dumping the ticket costs more than most plans: only when a template needs it.
    contexts: list[dict[str, Any]] = []

    def context() -> dict[str, Any]:
        if not contexts:
            contexts.append(template_context(ticket))
        return contexts[0]

    def text(template: str | None) -> str | None:
        return None if template is None else render(template, context())

    for index, action in enumerate(actions):
        key = f"{dedupe_prefix}:{index}"
        try:
            match action:
                case Transfer():
                    plan.ticket_actions.append(
                        {
                            "type": "transfer",
                            **action.model_dump(
                                mode="json", include=action.model_fields_set - {"type"}
                            ),
                        }
                    )
                case ChangePriority():
                    plan.ticket_actions.append(
                        {"type": "set_priority", "priority": action.priority}
                    )
                case ChangeSlaLevel():
                    plan.ticket_actions.append(
                        {"type": "set_sla_level", "sla_level": action.sla_level}
                    )
                case ChangeSubject():
                    plan.ticket_actions.append(
                        {"type": "set_subject", "subject": text(action.subject)}
                    )
                case AddTags():
                    plan.ticket_actions.append({"type": "add_tags", "tags": action.tags})
                case RemoveTags():
                    plan.ticket_actions.append({"type": "remove_tags", "tags": action.tags})
                case StopRules():
                    plan.stop = True
                case SendAnswer():
                    if not ticket.customer_email:
                        plan.errors.append(
                            f"actions[{index}] (send_answer): the ticket has no customer e-mail"
                        )
                        continue
                    subject = text(action.subject) or f"Re: {ticket.subject}"
                    body = text(action.body) or ""
                    plan.ticket_actions.append(
                        {
                            "type": "add_message",
                            "author_kind": "system",
                            "subject": subject,
                            "body": body,
                            "to": [ticket.customer_email],
                        }
                    )
                    plan.outbound.append(
                        OutboundRequest(
                            kind="send_answer",
                            to=[ticket.customer_email],
                            subject=subject,
                            body=body,
                            dedupe_key=key,
                        )
                    )
                case SendEmail():
                    plan.outbound.append(
                        OutboundRequest(
                            kind="send_email",
                            to=list(action.to),
                            subject=text(action.subject),
                            body=text(action.body),
                            dedupe_key=key,
                        )
                    )
                case CallUrl():
                    plan.outbound.append(
                        OutboundRequest(
                            kind="call_url", url=text(action.url), method="GET", dedupe_key=key
                        )
                    )
                case HttpRequest():
                    plan.outbound.append(
                        OutboundRequest(
                            kind="http_request",
                            url=text(action.url),
                            method=action.method,
                            headers={k: render(v, context()) for k, v in action.headers.items()},
                            body=text(action.body),
                            dedupe_key=key,
                        )
                    )
                case _:
                    simple = _TICKET_ACTIONS_WITHOUT_SETTINGS.get(type(action))
                    if simple is None:
                        plan.errors.append(f"actions[{index}]: unknown action {action!r}")
                    else:
                        plan.ticket_actions.append(dict(simple))
        except TemplateError as exc:
            plan.errors.append(f"actions[{index}] ({action.type}): {exc}")
    return plan
