"""Database setup every service shares: naming convention, engine, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from .errors import NotFound

RowT = TypeVar("RowT")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def schema_metadata(schema: str) -> MetaData:
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


def make_engine(
    url: str,
    *,
    application_name: str,
    pool_size: int = 20,
    max_overflow: int = 10,
    json_serializer: Callable[[Any], str] | None = None,
    synchronous_commit: bool = True,
) -> AsyncEngine:
    """An engine on asyncpg. ``synchronous_commit=False``: its transactions commit without
    waiting for PostgreSQL to flush the WAL to disk (``synchronous_commit = off`` on every
    connection). Only for writers whose loss in a crash something else repairs: an outbox
    relay (rows published again), a ConsumerRunner with ``async_commit=True`` (it makes
    them durable before committing the offsets that cover them)."""
    options: dict[str, Any] = {}
    if json_serializer is not None:
        options["json_serializer"] = json_serializer
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=max_overflow,
        connect_args={
            "server_settings": {
                "application_name": application_name,
                **({} if synchronous_commit else {"synchronous_commit": "off"}),
            }
        },
        **options,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def request_session(request: Request) -> AsyncIterator[AsyncSession]:
    """A session for the request. Handlers commit explicitly once their work is complete;
    anything not committed is rolled back when the request ends."""
    async with request.app.state.sessions() as session:
        yield session


Session = Annotated[AsyncSession, Depends(request_session)]


async def get_or_not_found(
    session: AsyncSession,
    model: type[RowT],
    key: Any,
    missing: str,
    *,
    with_for_update: bool = False,
) -> RowT:
    """The ``model`` row with primary key ``key``; a 404 saying ``missing`` when there is none."""
    row = await session.get(model, key, with_for_update=with_for_update)
    if row is None:
        raise NotFound(missing)
    return row


async def database_ready(request: Request) -> None:
    async with request.app.state.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
