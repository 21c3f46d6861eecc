"""Reading a versioned definition (a calendar, a level) as the API shows it: the head row
(its identity, current version and creation) with one of its version rows (the definition
as that edit gave it, under the input schema's field names)."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from helpdesk_service.db import get_or_not_found
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession


class VersionedHead(Protocol):
    @property
    def version(self) -> int: ...


HeadT = TypeVar("HeadT", bound=VersionedHead)
VersionT = TypeVar("VersionT")


async def head_and_version(
    session: AsyncSession,
    head_type: type[HeadT],
    version_type: type[VersionT],
    key: Any,
    version: int | None,
    what: str,
) -> tuple[HeadT, VersionT]:
    """The head ``key`` and its version ``version`` (None: the current one); a 404 naming
    ``what`` ("level 'gold'") when either is missing."""
    head = await get_or_not_found(session, head_type, key, f"{what} does not exist")
    row = await get_or_not_found(
        session, version_type, (key, version or head.version), f"{what} has no version {version}"
    )
    return head, row


def version_out(
    out_type: type[BaseModel],
    definition_type: type[BaseModel],
    head: Any,
    version: Any,
    **identity: Any,
) -> dict[str, Any]:
    """``version`` of ``head`` as ``out_type`` (JSON): the ``definition_type`` fields as the
    version row stores them, the head's ``identity``, created when the head was, updated when
    this version was written."""
    definition = {name: getattr(version, name) for name in definition_type.model_fields}
    return out_type(
        **definition,
        **identity,
        version=version.version,
        created_at=head.created_at,
        updated_at=version.created_at,
    ).model_dump(mode="json")
