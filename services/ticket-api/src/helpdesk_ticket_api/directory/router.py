"""/v1 directory: departments, agents (and their availability), customers and groups, tags,
custom field definitions, API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from helpdesk_events import (
    AgentAvailabilityChanged,
    AgentCreated,
    AgentSnapshot,
    AgentUpdated,
    Change,
    add_to_outbox,
)
from helpdesk_service.db import get_or_not_found
from helpdesk_service.errors import Conflict, Forbidden, NotFound, Unprocessable
from helpdesk_service.pagination import Cursor, oldest_first_page
from helpdesk_service.responses import JsonResponse
from pydantic import BaseModel
from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..auth import AdminOnly, AnyRole, Principal, generate_key, hash_key
from ..deps import Ctx, Session
from ..models import (
    OUTBOX,
    Agent,
    AgentDepartment,
    ApiKey,
    Customer,
    CustomerGroup,
    CustomerGroupMember,
    CustomFieldDefinition,
    Department,
    Tag,
    Ticket,
)
from ..origin import origin_of
from . import schemas as s

router = APIRouter(prefix="/v1", tags=["directory"])
Limit = Annotated[int, Query(ge=1, le=500)]
_Out = TypeVar("_Out", bound=BaseModel)


def _dump(model: type[BaseModel], row: Any) -> dict[str, Any]:
    return model.model_validate(row).model_dump(mode="json")


async def _commit_unique(session: AsyncSession, what: str) -> None:
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"{what} already exists", code="duplicate") from exc


async def _flush_unique(session: AsyncSession, what: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{what} already exists", code="duplicate") from exc


async def _create_unique(
    session: AsyncSession, row: Any, out: type[BaseModel], what: str
) -> JsonResponse:
    """Insert a definition whose name or key is unique; 409 if ``what`` exists already."""
    session.add(row)
    await _commit_unique(session, what)
    return JsonResponse(_dump(out, row), 201)


async def _delete(session: AsyncSession, model: Any, id_: uuid.UUID, what: str) -> JsonResponse:
    await _get(session, model, id_, what)
    await session.execute(delete(model).where(model.id == id_))
    await session.commit()
    return JsonResponse(None, 204)


async def _get(session: AsyncSession, model: Any, id_: uuid.UUID, what: str) -> Any:
    return await get_or_not_found(session, model, id_, f"no {what} with id {id_}")


def _patch(row: Any, data: BaseModel, now: datetime, *, besides: tuple[str, ...] = ()) -> None:
    """Set the fields ``data`` names on ``row`` but ``besides`` (those are the caller's to
    apply), e-mail addresses lower-cased, and stamp the row updated."""
    for field in data.model_fields_set.difference(besides):
        value = getattr(data, field)
        setattr(row, field, value.lower() if field == "email" and value else value)
    row.updated_at = now


def _with_members(out: type[_Out], row: Agent | Customer, **member_ids: list[uuid.UUID]) -> _Out:
    """``out`` of ``row``'s columns and the ids of the departments or groups it is a member
    of (rows of another table)."""
    columns = {column.key: getattr(row, column.key) for column in row.__table__.columns}
    return out.model_validate({**columns, **member_ids})


def _list_route(
    path: str,
    model: Any,
    out: type[BaseModel],
    *,
    name: str,
    tag: str,
    default_limit: int = 100,
    role: Any = AnyRole,
) -> None:
    """GET ``path``: a definition table's rows, oldest first, a page at a time."""

    async def list_rows(
        session: Session, limit: Limit = default_limit, cursor: Cursor = None, _: Principal = role
    ) -> JsonResponse:
        rows, nxt = await oldest_first_page(session, model, select(model), limit, cursor)
        return JsonResponse({"items": [_dump(out, r) for r in rows], "next_cursor": nxt})

    router.add_api_route(path, list_rows, methods=["GET"], name=name, tags=[tag])


async def _check_ids(session: AsyncSession, model: Any, ids: list[uuid.UUID], field: str) -> None:
    wanted = set(ids)
    if not wanted:
        return
    found = set((await session.execute(select(model.id).where(model.id.in_(wanted)))).scalars())
    missing = sorted(str(i) for i in wanted - found)
    if missing:
        raise Unprocessable(f"{field}: unknown ids {', '.join(missing)}", code="unknown_reference")


# -- departments --------------------------------------------------------------------------


@router.post("/departments", status_code=201, response_model=s.DepartmentOut, tags=["departments"])
async def create_department(
    data: s.DepartmentIn, session: Session, ctx: Ctx, _: Principal = AdminOnly
) -> JsonResponse:
    now = ctx.clock.now()
    row = Department(
        id=uuid.uuid4(),
        name=data.name,
        description=data.description,
        created_at=now,
        updated_at=now,
    )
    return await _create_unique(session, row, s.DepartmentOut, f"a department named {data.name!r}")


_list_route("/departments", Department, s.DepartmentOut, name="list_departments", tag="departments")


@router.get("/departments/{department_id}", response_model=s.DepartmentOut, tags=["departments"])
async def get_department(
    department_id: uuid.UUID, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    return JsonResponse(
        _dump(s.DepartmentOut, await _get(session, Department, department_id, "department"))
    )


@router.patch("/departments/{department_id}", response_model=s.DepartmentOut, tags=["departments"])
async def patch_department(
    department_id: uuid.UUID,
    data: s.DepartmentPatch,
    session: Session,
    ctx: Ctx,
    _: Principal = AdminOnly,
) -> JsonResponse:
    row = await _get(session, Department, department_id, "department")
    _patch(row, data, ctx.clock.now())
    await _commit_unique(session, f"a department named {row.name!r}")
    return JsonResponse(_dump(s.DepartmentOut, row))


@router.delete("/departments/{department_id}", status_code=204, tags=["departments"])
async def delete_department(
    department_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    await _get(session, Department, department_id, "department")
    in_use = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.department_id == department_id)
    )
    if in_use:
        raise Conflict(f"department has {in_use} tickets; transfer them first", code="in_use")
    await session.execute(delete(Department).where(Department.id == department_id))
    await session.commit()
    return JsonResponse(None, 204)


# -- agents -------------------------------------------------------------------------------


async def _sorted_ids(session: AsyncSession, query: Select[Any]) -> list[uuid.UUID]:
    return sorted((await session.execute(query)).scalars())


async def _agent_out(session: AsyncSession, agent: Agent) -> s.AgentOut:
    departments = await _sorted_ids(
        session, select(AgentDepartment.department_id).where(AgentDepartment.agent_id == agent.id)
    )
    return _with_members(s.AgentOut, agent, department_ids=departments)


async def _emit_agent(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    cls: Any,
    out: s.AgentOut,
    changes: dict[str, Change],
) -> None:
    origin = origin_of(principal)
    event = cls(
        occurred_at=request.app.state.clock.now(),
        agent_id=out.id,
        actor=origin.actor,
        correlation_id=origin.correlation_id,
        changes=changes,
        agent=AgentSnapshot(**out.model_dump(include=set(AgentSnapshot.model_fields))),
    )
    await add_to_outbox(session, OUTBOX, request.app.state.topics.agents, [event])


@router.post("/agents", status_code=201, response_model=s.AgentOut, tags=["agents"])
async def create_agent(
    data: s.AgentIn, request: Request, session: Session, ctx: Ctx, principal: Principal = AdminOnly
) -> JsonResponse:
    now = ctx.clock.now()
    await _check_ids(session, Department, data.department_ids, "department_ids")
    agent = Agent(
        id=uuid.uuid4(),
        name=data.name,
        email=data.email.lower(),
        role=data.role,
        active=True,
        availability=dict(data.availability),
        created_at=now,
        updated_at=now,
    )
    session.add(agent)
    await _flush_unique(session, f"an agent with email {data.email}")
    if data.department_ids:
        await session.execute(
            insert(AgentDepartment),
            [{"agent_id": agent.id, "department_id": d} for d in set(data.department_ids)],
        )
    out = await _agent_out(session, agent)
    await _emit_agent(session, request, principal, AgentCreated, out, {})
    await session.commit()
    return JsonResponse(out.model_dump(mode="json"), 201)


@router.get("/agents", tags=["agents"])
async def list_agents(
    session: Session,
    department_id: uuid.UUID | None = None,
    active: bool | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    _: Principal = AnyRole,
) -> JsonResponse:
    query = select(Agent)
    if department_id is not None:
        query = query.where(
            Agent.id.in_(
                select(AgentDepartment.agent_id).where(
                    AgentDepartment.department_id == department_id
                )
            )
        )
    if active is not None:
        query = query.where(Agent.active.is_(active))
    rows, nxt = await oldest_first_page(session, Agent, query, limit, cursor)
    items = [(await _agent_out(session, a)).model_dump(mode="json") for a in rows]
    return JsonResponse({"items": items, "next_cursor": nxt})


@router.get("/agents/{agent_id}", response_model=s.AgentOut, tags=["agents"])
async def get_agent(agent_id: uuid.UUID, session: Session, _: Principal = AnyRole) -> JsonResponse:
    agent = await _get(session, Agent, agent_id, "agent")
    return JsonResponse((await _agent_out(session, agent)).model_dump(mode="json"))


@router.patch("/agents/{agent_id}", response_model=s.AgentOut, tags=["agents"])
async def patch_agent(
    agent_id: uuid.UUID,
    data: s.AgentPatch,
    request: Request,
    session: Session,
    ctx: Ctx,
    principal: Principal = AdminOnly,
) -> JsonResponse:
    agent = (
        await session.execute(select(Agent).where(Agent.id == agent_id).with_for_update())
    ).scalar_one_or_none()
    if agent is None:
        raise NotFound(f"no agent with id {agent_id}")
    before = await _agent_out(session, agent)
    _patch(agent, data, ctx.clock.now(), besides=("department_ids",))
    if data.department_ids is not None:
        ids = data.department_ids
        await _check_ids(session, Department, ids, "department_ids")
        await session.execute(delete(AgentDepartment).where(AgentDepartment.agent_id == agent.id))
        if ids:
            await session.execute(
                insert(AgentDepartment),
                [{"agent_id": agent.id, "department_id": d} for d in set(ids)],
            )
    await _flush_unique(session, f"an agent with email {data.email}")
    after = await _agent_out(session, agent)
    changes = _diff(before, after, ("name", "email", "role", "active", "department_ids"))
    if changes:
        await _emit_agent(session, request, principal, AgentUpdated, after, changes)
    await session.commit()
    request.app.state.key_cache.clear()
    return JsonResponse(after.model_dump(mode="json"))


@router.put("/agents/{agent_id}/availability", response_model=s.AgentOut, tags=["agents"])
async def set_availability(
    agent_id: uuid.UUID,
    data: s.AvailabilityIn,
    request: Request,
    session: Session,
    ctx: Ctx,
    principal: Principal = AnyRole,
) -> JsonResponse:
    """Set online / away / offline per channel. Agents may set their own only."""
    if principal.role == "agent" and principal.agent_id != agent_id:
        raise Forbidden("agents can only set their own availability")
    agent = (
        await session.execute(select(Agent).where(Agent.id == agent_id).with_for_update())
    ).scalar_one_or_none()
    if agent is None:
        raise NotFound(f"no agent with id {agent_id}")
    before: dict[str, str] = dict(agent.availability or {})
    after: dict[str, str] = {**before, **{str(k): str(v) for k, v in data.availability.items()}}
    if after != before:
        agent.availability = after
        agent.updated_at = ctx.clock.now()
        await session.flush()
        out = await _agent_out(session, agent)
        changes = {
            ch: Change(before=before.get(ch, "offline"), after=v)
            for ch, v in after.items()
            if before.get(ch) != v
        }
        await _emit_agent(session, request, principal, AgentAvailabilityChanged, out, changes)
    else:
        out = await _agent_out(session, agent)
    await session.commit()
    return JsonResponse(out.model_dump(mode="json"))


def _diff(before: BaseModel, after: BaseModel, fields: tuple[str, ...]) -> dict[str, Change]:
    b, a = before.model_dump(mode="json"), after.model_dump(mode="json")
    return {f: Change(before=b[f], after=a[f]) for f in fields if b[f] != a[f]}


# -- customers and groups -----------------------------------------------------------------


async def _customer_out(session: AsyncSession, customer: Customer) -> dict[str, Any]:
    groups = await _sorted_ids(
        session,
        select(CustomerGroupMember.group_id).where(CustomerGroupMember.customer_id == customer.id),
    )
    return _with_members(s.CustomerOut, customer, group_ids=groups).model_dump(mode="json")


async def _set_groups(
    session: AsyncSession, customer_id: uuid.UUID, group_ids: list[uuid.UUID]
) -> None:
    await _check_ids(session, CustomerGroup, group_ids, "group_ids")
    await session.execute(
        delete(CustomerGroupMember).where(CustomerGroupMember.customer_id == customer_id)
    )
    if group_ids:
        await session.execute(
            insert(CustomerGroupMember),
            [{"customer_id": customer_id, "group_id": g} for g in set(group_ids)],
        )


@router.post("/customers", status_code=201, response_model=s.CustomerOut, tags=["customers"])
async def create_customer(
    data: s.CustomerIn, session: Session, ctx: Ctx, _: Principal = AnyRole
) -> JsonResponse:
    if not (data.name or data.email or data.phone):
        raise Unprocessable("give the customer's name, email or phone")
    now = ctx.clock.now()
    customer = Customer(
        id=uuid.uuid4(),
        name=data.name,
        email=data.email.lower() if data.email else None,
        phone=data.phone,
        created_at=now,
        updated_at=now,
    )
    session.add(customer)
    await _flush_unique(session, f"a customer with email {data.email}")
    await _set_groups(session, customer.id, data.group_ids)
    out = await _customer_out(session, customer)
    await session.commit()
    return JsonResponse(out, 201)


@router.get("/customers", tags=["customers"])
async def list_customers(
    session: Session,
    email: str | None = None,
    group_id: uuid.UUID | None = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    _: Principal = AnyRole,
) -> JsonResponse:
    query = select(Customer)
    if email:
        query = query.where(Customer.email == email.lower())
    if group_id:
        query = query.where(
            Customer.id.in_(
                select(CustomerGroupMember.customer_id).where(
                    CustomerGroupMember.group_id == group_id
                )
            )
        )
    rows, nxt = await oldest_first_page(session, Customer, query, limit, cursor)
    return JsonResponse(
        {"items": [await _customer_out(session, c) for c in rows], "next_cursor": nxt}
    )


@router.get("/customers/{customer_id}", response_model=s.CustomerOut, tags=["customers"])
async def get_customer(
    customer_id: uuid.UUID, session: Session, _: Principal = AnyRole
) -> JsonResponse:
    return JsonResponse(
        await _customer_out(session, await _get(session, Customer, customer_id, "customer"))
    )


@router.patch("/customers/{customer_id}", response_model=s.CustomerOut, tags=["customers"])
async def patch_customer(
    customer_id: uuid.UUID,
    data: s.CustomerPatch,
    session: Session,
    ctx: Ctx,
    _: Principal = AnyRole,
) -> JsonResponse:
    customer = await _get(session, Customer, customer_id, "customer")
    _patch(customer, data, ctx.clock.now(), besides=("group_ids",))
    if data.group_ids is not None:
        await _set_groups(session, customer.id, data.group_ids)
    await _flush_unique(session, f"a customer with email {data.email}")
    out = await _customer_out(session, customer)
    await session.commit()
    return JsonResponse(out)


@router.post("/customer-groups", status_code=201, response_model=s.GroupOut, tags=["customers"])
async def create_group(
    data: s.GroupIn, session: Session, ctx: Ctx, _: Principal = AdminOnly
) -> JsonResponse:
    row = CustomerGroup(id=uuid.uuid4(), name=data.name, created_at=ctx.clock.now())
    return await _create_unique(session, row, s.GroupOut, f"a customer group named {data.name!r}")


_list_route("/customer-groups", CustomerGroup, s.GroupOut, name="list_groups", tag="customers")


@router.delete("/customer-groups/{group_id}", status_code=204, tags=["customers"])
async def delete_group(
    group_id: uuid.UUID, session: Session, _: Principal = AdminOnly
) -> JsonResponse:
    return await _delete(session, CustomerGroup, group_id, "customer group")


# -- tags and custom fields ---------------------------------------------------------------


@router.post("/tags", status_code=201, response_model=s.TagOut, tags=["tags"])
async def create_tag(
    data: s.TagIn, session: Session, ctx: Ctx, _: Principal = AdminOnly
) -> JsonResponse:
    row = Tag(id=uuid.uuid4(), name=data.name, color=data.color, created_at=ctx.clock.now())
    return await _create_unique(session, row, s.TagOut, f"a tag named {data.name!r}")


_list_route("/tags", Tag, s.TagOut, name="list_tags", tag="tags", default_limit=500)


@router.delete("/tags/{tag_id}", status_code=204, tags=["tags"])
async def delete_tag(tag_id: uuid.UUID, session: Session, _: Principal = AdminOnly) -> JsonResponse:
    """Remove a tag definition; tickets keep the tag name they carry."""
    return await _delete(session, Tag, tag_id, "tag")


@router.post(
    "/custom-fields", status_code=201, response_model=s.CustomFieldOut, tags=["custom fields"]
)
async def create_custom_field(
    data: s.CustomFieldIn, session: Session, ctx: Ctx, _: Principal = AdminOnly
) -> JsonResponse:
    if data.type == "select" and not data.options:
        raise Unprocessable("options: a select field needs at least one option")
    if data.type != "select" and data.options:
        raise Unprocessable(f"options: only select fields have options, not {data.type} fields")
    row = CustomFieldDefinition(
        id=uuid.uuid4(),
        key=data.key,
        label=data.label,
        type=data.type,
        options=data.options,
        created_at=ctx.clock.now(),
    )
    return await _create_unique(
        session, row, s.CustomFieldOut, f"a custom field with key {data.key!r}"
    )


_list_route(
    "/custom-fields",
    CustomFieldDefinition,
    s.CustomFieldOut,
    name="list_custom_fields",
    tag="custom fields",
    default_limit=500,
)


# -- API keys -----------------------------------------------------------------------------


@router.post("/api-keys", status_code=201, response_model=s.ApiKeyCreated, tags=["api keys"])
async def create_api_key(
    data: s.ApiKeyIn, session: Session, ctx: Ctx, _: Principal = AdminOnly
) -> JsonResponse:
    """Create a key; the secret is in the response once and stored only hashed."""
    if data.role == "agent":
        if data.agent_id is None:
            raise Unprocessable("agent_id: an agent key belongs to an agent")
        await _get(session, Agent, data.agent_id, "agent")
    elif data.agent_id is not None:
        raise Unprocessable(f"agent_id: only agent keys belong to an agent, not {data.role} keys")
    key = generate_key()
    row = ApiKey(
        id=uuid.uuid4(),
        name=data.name,
        key_hash=hash_key(key),
        prefix=key[:8],
        role=data.role,
        agent_id=data.agent_id,
        created_at=ctx.clock.now(),
    )
    session.add(row)
    await session.commit()
    return JsonResponse({**_dump(s.ApiKeyOut, row), "key": key}, 201)


_list_route("/api-keys", ApiKey, s.ApiKeyOut, name="list_api_keys", tag="api keys", role=AdminOnly)


@router.delete("/api-keys/{key_id}", status_code=204, tags=["api keys"])
async def revoke_api_key(
    key_id: uuid.UUID, request: Request, session: Session, ctx: Ctx, _: Principal = AdminOnly
) -> JsonResponse:
    await _get(session, ApiKey, key_id, "API key")
    await session.execute(
        update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=ctx.clock.now())
    )
    await session.commit()
    request.app.state.key_cache.clear()
    return JsonResponse(None, 204)
