"""Kafka topic names. A deployment may prefix them (tests give every test its own prefix)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    @property
    def tickets(self) -> str:
        return f"{self.prefix}helpdesk.tickets"

    @property
    def agents(self) -> str:
        return f"{self.prefix}helpdesk.agents"

    @property
    def sla(self) -> str:
        return f"{self.prefix}helpdesk.sla"

    @property
    def notifications(self) -> str:
        return f"{self.prefix}helpdesk.notifications"

    def all(self) -> list[str]:
        return [self.tickets, self.agents, self.sla, self.notifications]
