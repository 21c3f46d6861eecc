"""Bodies of the directory endpoints: departments, agents, customers, groups, tags, fields, keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from helpdesk_events.vocabulary import AgentRole, Availability, AvailabilityChannel, KeyRole
from helpdesk_service.patch import PatchModel
from pydantic import BaseModel, ConfigDict, EmailStr, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class DepartmentIn(Strict):
    name: Name
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class DepartmentPatch(PatchModel):
    nullable = frozenset({"description"})

    name: Name | None = None
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None


class DepartmentOut(Out):
    id: uuid.UUID
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class AgentIn(Strict):
    name: Name
    email: EmailStr
    role: AgentRole = "agent"
    department_ids: list[uuid.UUID] = Field(default=[], max_length=200)
    availability: dict[AvailabilityChannel, Availability] = {}


class AgentPatch(PatchModel):
    name: Name | None = None
    email: EmailStr | None = None
    role: AgentRole | None = None
    active: bool | None = None
    department_ids: list[uuid.UUID] | None = Field(default=None, max_length=200)


class AvailabilityIn(Strict):
    """Set the agent's availability on some channels; others stay as they are."""

    availability: dict[AvailabilityChannel, Availability] = Field(min_length=1)


class AgentOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str
    role: str
    active: bool
    department_ids: list[uuid.UUID]
    availability: dict[str, str]
    created_at: datetime
    updated_at: datetime


class CustomerIn(Strict):
    """At least one of name, email and phone (the router refuses a customer with none)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
                for name in ("name", "email", "phone")
            ]
        },
    )
    name: Name | None = None
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None
    group_ids: list[uuid.UUID] = Field(default=[], max_length=100)


class CustomerPatch(PatchModel):
    nullable = frozenset({"name", "email", "phone"})

    name: Name | None = None
    email: EmailStr | None = None
    phone: Annotated[str, StringConstraints(max_length=50)] | None = None
    group_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)


class CustomerOut(BaseModel):
    id: uuid.UUID
    name: str | None
    email: str | None
    phone: str | None
    group_ids: list[uuid.UUID]
    created_at: datetime
    updated_at: datetime


class GroupIn(Strict):
    name: Name


class GroupOut(Out):
    id: uuid.UUID
    name: str
    created_at: datetime


class TagIn(Strict):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^,]+$"),
    ]
    color: Annotated[str, StringConstraints(max_length=20)] | None = None


class TagOut(Out):
    id: uuid.UUID
    name: str
    color: str | None
    created_at: datetime


class CustomFieldIn(Strict):
    key: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    ]
    label: Name
    type: Literal["text", "number", "boolean", "date", "select"]
    options: list[Annotated[str, StringConstraints(min_length=1, max_length=200)]] = Field(
        default=[], max_length=500
    )


class CustomFieldOut(Out):
    id: uuid.UUID
    key: str
    label: str
    type: str
    options: list[str]
    created_at: datetime


class ApiKeyIn(Strict):
    name: Name
    role: KeyRole
    agent_id: uuid.UUID | None = None


class ApiKeyOut(Out):
    id: uuid.UUID
    name: str
    prefix: str
    role: str
    agent_id: uuid.UUID | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The secret; shown only once")
