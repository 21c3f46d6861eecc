"""The consumer loop, written once.

A service's consumer is a table of small handlers (``{"ticket.created": on_created}``);
``ConsumerRunner`` decodes, dedupes in the same database transaction as the handler's work,
dispatches, and commits offsets only after handling (at-least-once, applied once).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError
from prometheus_client import Counter
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    func,
    insert,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from .clock import Clock, SystemClock
from .envelope import EventBase, UndecodableEvent, UnknownEvent, decode_event

log = logging.getLogger(__name__)

EVENTS_HANDLED = Counter("consumer_events_handled_total", "Events handled", ["consumer", "type"])
EVENTS_SKIPPED = Counter("consumer_events_skipped_total", "Events skipped", ["consumer", "reason"])
EVENTS_DEAD = Counter("consumer_events_dead_total", "Events parked after failing", ["consumer"])
WAL_FLUSHES = Counter(
    "consumer_wal_flushes_total",
    "Synchronous commits before offset commits (ConsumerRunner async_commit)",
    ["consumer"],
)


@dataclass(frozen=True)
class ConsumerTables:
    processed: Table
    dead: Table


def consumer_tables(metadata: MetaData, *, pruned_by_age: bool = False) -> ConsumerTables:
    """Declare the dedupe table and the dead-letter table in a service's metadata.
    ``pruned_by_age``: the service forgets processed marks by age (its retention), so
    ``processed_at`` has a block-range index (its migration creates it)."""
    processed = Table(
        "processed_event",
        metadata,
        Column("consumer", String(100), nullable=False),
        Column("event_id", Uuid, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )
    dead = Table(
        "dead_event",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("consumer", String(100), nullable=False),
        Column("event_id", Uuid, nullable=True),
        Column("event_type", String(100), nullable=True),
        Column("topic", String(200), nullable=False),
        Column("partition", Integer, nullable=False),
        Column("offset", BigInteger, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("error", Text, nullable=False),
        Column("failed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )
    if pruned_by_age:
        Index(
            "ix_processed_event_processed_at",
            processed.c.processed_at,
            postgresql_using="brin",
        )
    return ConsumerTables(processed=processed, dead=dead)


@dataclass(frozen=True)
class Dedupe:
    """For handlers that record the event as processed themselves (``dedupe="handler"``):
    ``table`` (schema-qualified, quoted) has the columns ``consumer`` and ``event_id``; the
    event is processed once a row (this consumer's name, its id) is in it."""

    table: str
    consumer: str
    event_id: uuid.UUID


@dataclass(eq=False)
class HandlerContext:
    """What a handler gets besides the event: the transaction to do its work in, and time.

    ``session`` is opened on first use, inside the event's transaction: a handler that
    only sends statements through ``driver_connection()`` never pays for one.

    With ``dedupe="handler"`` there is no transaction: the handler's statements (and its
    session, for reads) run in autocommit mode; it gets ``dedupe``, writes the processed
    mark itself in the statement that records its outcome, and calls ``duplicate()`` when
    the mark was already there."""

    clock: Clock
    record: ConsumerRecord[bytes, bytes]
    open_session: Callable[[], AsyncSession]
    _: KW_ONLY
    # The asyncpg connection the runner drives the event's transaction on, if it does.
    driver: Any = None
    dedupe: Dedupe | None = None
    was_duplicate: bool = field(default=False, init=False)
    # The session, if the handler used it.
    opened_session: AsyncSession | None = field(default=None, init=False)

    def duplicate(self) -> None:
        """The event had already been processed: nothing was done (handler dedupe)."""
        self.was_duplicate = True

    @property
    def session(self) -> AsyncSession:
        if self.opened_session is None:
            self.opened_session = self.open_session()
        return self.opened_session

    async def driver_connection(self) -> Any:
        """The asyncpg connection of the event's transaction (begun with the dedupe insert),
        for hot-path statements without SQLAlchemy's per-statement cost. What runs on it
        commits or rolls back with the event, like the session's work. With
        ``dedupe="handler"`` there is no such transaction: statements commit one by one."""
        if self.driver is not None:
            return self.driver
        return await driver_connection(self.session)


async def driver_connection(session: AsyncSession) -> Any:
    """The asyncpg connection of the session's current transaction. The transaction must
    already be under way (a statement ran through the session): statements sent before
    that would run outside it."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection


Handler = Callable[[Any, HandlerContext], Awaitable[None]]


class _LaneStopped(Exception):
    """An earlier event of the same key failed for good: the later ones are not run."""


class _PartitionProgress:
    """Which of a partition's dispatched offsets are done: the committable offset is the
    first one that is not (or the next to fetch, when all are)."""

    def __init__(self) -> None:
        self._open: collections.deque[int] = collections.deque()
        self._done: set[int] = set()
        self._next: int | None = None

    def dispatched(self, offset: int) -> None:
        self._open.append(offset)
        self._next = offset + 1

    def done(self, offset: int) -> None:
        self._done.add(offset)
        while self._open and self._open[0] in self._done:
            self._done.discard(self._open.popleft())

    def committable(self) -> int | None:
        return self._open[0] if self._open else self._next


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit what was handled before partitions move to another instance."""

    def __init__(self, runner: ConsumerRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner.release(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("%s: assigned %s", self._runner.name, sorted(str(tp) for tp in assigned))


class ConsumerRunner:
    """Consume topics with a table of handlers, each event applied once.

    For every record: decode; skip unknown types; in one transaction insert the event id into
    ``processed_event`` (skip if already there) and run the handler — or, with
    ``dedupe="handler"``, let the handler write that row with its outcome (see
    HandlerContext). Events with different
    keys (different tickets) are handled concurrently, up to ``max_in_flight`` at a time;
    events with the same key — and so every event of one ticket — strictly in order.

    Fetching does not wait for handling: records are dispatched to their key's lane as they
    arrive (at most ``max_records`` fetched and not yet done), so one slow event delays only
    its own ticket. A partition's offset is committed up to its first record not yet done,
    at most every ``commit_interval`` seconds, when partitions are taken away (after their
    records in hand are done) and on stop; a restart re-reads from there, and the dedupe
    table drops what was already applied.

    A handler that keeps failing is retried ``max_attempts`` times, waiting on the clock
    ``retry_backoff`` seconds, doubled after each attempt; then the record is parked in
    ``dead_event`` so one poisoned event cannot stall its partition forever. If even that
    fails (the database is gone), ``run`` stops fetching, lets the other records in hand
    finish, commits what is done and raises.
    """

    def __init__(
        self,
        *,
        name: str,
        bootstrap_servers: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler],
        session_factory: async_sessionmaker[AsyncSession],
        tables: ConsumerTables,
        clock: Clock | None = None,
        max_attempts: int = 5,
        retry_backoff: float = 0.2,
        max_records: int = 500,
        session_timeout_ms: int = 10_000,
        heartbeat_interval_ms: int = 3_000,
        fetch_max_wait_ms: int = 20,
        max_in_flight: int = 16,
        commit_interval: float = 0.2,
        dedupe: Literal["runner", "handler"] = "runner",
        async_commit: bool = False,
    ) -> None:
        self.name = name
        # The handlers' transactions commit without waiting for the WAL flush (the engine's
        # connections run with synchronous_commit = off). Before committing offsets, the
        # runner makes everything committed so far durable with one synchronous commit: an
        # event whose writes a crash could still take away is never marked as read.
        self._async_commit = async_commit
        # Connections kept between events (see _lease).
        self._idle: list[AsyncConnection] = []
        # "runner": each event's transaction begins with the dedupe insert, and the handler
        # works inside it. "handler": no transaction; the handler writes the processed mark
        # itself, together with its outcome (see HandlerContext), saving round trips.
        self._dedupe = dedupe
        # Bounds the handlers running at once (each holds a database connection).
        self._slots = asyncio.Semaphore(max_in_flight)
        # Bounds the records fetched and not yet done.
        self._room = asyncio.Semaphore(max_records)
        self._commit_interval = commit_interval
        self._partitions: dict[TopicPartition, _PartitionProgress] = {}
        self._committed: dict[TopicPartition, int] = {}
        # The last record dispatched to each lane (partition, key): the next waits for it.
        self._tails: dict[tuple[TopicPartition, bytes | None], asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._topics = list(topics)
        self._handlers = dict(handlers)
        self._sessions = session_factory
        self._tables = tables
        self._clock = clock or SystemClock()
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._max_records = max_records
        processed = tables.processed
        table = f'"{processed.schema}".{processed.name}' if processed.schema else processed.name
        consumer = "'" + name.replace("'", "''") + "'"
        # BEGIN and the dedupe insert go out as one simple query (one round trip; its status
        # says whether the row was new). Only a UUID is added per event.
        self._begin_and_claim = (
            f"BEGIN; INSERT INTO {table} (consumer, event_id) VALUES ({consumer}, '",
            "') ON CONFLICT DO NOTHING",
        )
        self._processed_table = table
        bind = session_factory.kw.get("bind")
        # Connections on which SQLAlchemy neither begins nor commits: the runner does.
        self._engine: AsyncEngine | None = (
            bind.execution_options(isolation_level="AUTOCOMMIT")
            if isinstance(bind, AsyncEngine)
            else None
        )
        if dedupe == "handler" and self._engine is None:
            raise ValueError('dedupe="handler" needs a session factory bound to an engine')
        if async_commit and self._engine is None:
            raise ValueError("async_commit needs a session factory bound to an engine")
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap_servers,
            group_id=name,
            client_id=name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=300_000,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            # The broker may hold a fetch this long waiting for data; new events should not.
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

    async def start(self) -> None:
        await self._consumer.start()
        self._consumer.subscribe(self._topics, listener=_CommitOnRevoke(self))

    async def stop(self) -> None:
        try:
            await self.commit_pending(None)
        finally:
            try:
                await self._consumer.stop()
            finally:
                await self.release_connections()

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        last_commit = loop.time()
        try:
            while not stop.is_set() and self._failure is None:
                batches = await self._consumer.getmany(
                    timeout_ms=100, max_records=self._max_records
                )
                assigned = self._consumer.assignment()
                for tp, records in batches.items():
                    for record in records:
                        await self._room.acquire()
                        if tp not in assigned or self._failure is not None or stop.is_set():
                            # Taken away meanwhile, or stopping: left for whoever reads next.
                            self._room.release()
                            continue
                        self._dispatch(tp, record)
                if loop.time() - last_commit >= self._commit_interval:
                    await self.commit_pending(None)
                    last_commit = loop.time()
        finally:
            # Let what is in hand finish (each record's transaction is short), then commit.
            if self._tasks:
                await asyncio.wait(set(self._tasks))
            await self.commit_pending(None)
        if self._failure is not None:
            raise self._failure

    def _dispatch(self, tp: TopicPartition, record: ConsumerRecord[bytes, bytes]) -> None:
        progress = self._partitions.get(tp)
        if progress is None:
            progress = self._partitions[tp] = _PartitionProgress()
        progress.dispatched(record.offset)
        lane = (tp, record.key)
        task = asyncio.create_task(self._run_in_lane(self._tails.get(lane), record))
        self._tails[lane] = task
        self._tasks.add(task)

        def finished(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            if self._tails.get(lane) is task:
                del self._tails[lane]
            self._room.release()
            if task.cancelled():
                return
            failure = task.exception()
            if failure is not None:
                if self._failure is None and not isinstance(failure, _LaneStopped):
                    log.error("%s: giving up: %r", self.name, failure)
                    self._failure = failure
                return
            progress.done(record.offset)

        task.add_done_callback(finished)

    async def _run_in_lane(
        self, previous: asyncio.Task[None] | None, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
            if previous.cancelled() or previous.exception() is not None:
                raise _LaneStopped  # never run a ticket's events out of order
        async with self._slots:
            await self.handle_record(record)

    async def commit_pending(self, only: set[TopicPartition] | None) -> None:
        offsets = {}
        for tp, progress in self._partitions.items():
            if only is not None and tp not in only:
                continue
            offset = progress.committable()
            if offset is not None and self._committed.get(tp) != offset:
                offsets[tp] = offset
        if not offsets:
            return
        if self._async_commit:
            try:
                await self._flush_wal()
            except Exception as exc:  # the database unreachable, a broken connection, …
                # Not known to be durable: not marked as read either; re-read after a restart.
                log.warning("%s: WAL flush failed (%r); offsets not committed", self.name, exc)
                return
        try:
            await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            # The partitions moved on; whoever owns them now re-reads from the last commit and
            # the dedupe table keeps those events from being applied twice.
            log.warning("%s: offset commit failed (%s); events will be re-read", self.name, exc)
            return
        self._committed.update(offsets)

    async def _flush_wal(self) -> None:
        """One synchronous commit: PostgreSQL flushes the WAL up to its commit record, and
        so every commit made before it (on any connection) is on disk when this returns.
        A transaction that wrote nothing to the WAL commits without a flush, so this one
        writes a (transactional, empty) logical message: the smallest WAL record there is,
        open to any role, ignored by everything but logical decoding."""
        async with self._lease() as connection:
            driver = await _driver_of(connection)
            await driver.fetchval(
                "SELECT set_config('synchronous_commit', 'on', true), "
                "pg_logical_emit_message(true, 'helpdesk.flush', '')"
            )
        WAL_FLUSHES.labels(self.name).inc()

    async def release(self, revoked: set[TopicPartition]) -> None:
        """Partitions are being taken away: finish their records in hand, commit, forget."""
        tails = [task for (tp, _), task in self._tails.items() if tp in revoked]
        if tails:
            await asyncio.wait(tails)
        await self.commit_pending(revoked)
        for tp in revoked:
            self._partitions.pop(tp, None)
            self._committed.pop(tp, None)

    async def handle_record(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            event = decode_event(record.value or b"")
        except UndecodableEvent as exc:
            EVENTS_SKIPPED.labels(self.name, "undecodable").inc()
            await self._park(record, None, f"undecodable: {exc}")
            return
        handler = self._handlers.get(event.type)
        if handler is None or isinstance(event, UnknownEvent):
            EVENTS_SKIPPED.labels(self.name, "no_handler").inc()
            return
        for attempt in range(1, self._max_attempts + 1):
            try:
                await self._apply_once(event, handler, record)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.exception(
                    "%s: handler for %s %s failed (attempt %d/%d)",
                    self.name,
                    event.type,
                    event.id,
                    attempt,
                    self._max_attempts,
                )
                if attempt == self._max_attempts:
                    await self._park(record, event, repr(exc))
                    return
                await self._clock.sleep(self._retry_backoff * 2 ** (attempt - 1))

    async def _apply_once(
        self, event: EventBase, handler: Handler, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        if self._engine is None:
            await self._apply_in_session(event, handler, record)
            return
        async with self._lease() as connection:
            # The transaction is driven here, on the driver connection; SQLAlchemy is told
            # not to begin or commit one of its own, so the handler's session works inside it.
            driver = await _driver_of(connection)
            event_id = uuid.UUID(str(event.id))
            handler_marks = self._dedupe == "handler"
            ctx = HandlerContext(
                self._clock,
                record,
                lambda: self._sessions(bind=connection),
                driver=driver,
                dedupe=Dedupe(self._processed_table, self.name, event_id)
                if handler_marks
                else None,
            )
            try:
                if not handler_marks:
                    head, tail = self._begin_and_claim
                    if await driver.execute(f"{head}{event_id}{tail}") == "INSERT 0 0":
                        await driver.execute("ROLLBACK")
                        ctx.duplicate()
                if not ctx.was_duplicate:
                    await handler(event, ctx)
                    if not handler_marks:
                        session = ctx.opened_session
                        if session is not None:
                            await session.commit()  # flushes the handler's ORM work, if any
                        await driver.execute("COMMIT")
            except BaseException:
                await _abandon(connection, driver)
                raise
            finally:
                if ctx.opened_session is not None:
                    await ctx.opened_session.close()
        if ctx.was_duplicate:
            EVENTS_SKIPPED.labels(self.name, "duplicate").inc()
            return
        EVENTS_HANDLED.labels(self.name, event.type).inc()

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one event. Kept for the next event rather than returned to the
        pool (a checkout costs more than a round trip): at most one per slot stays open. One
        that failed is not kept, since it may be broken or inside a transaction, and the
        kept ones go back to the pool with it; a connection the database closed is never
        handed out (see _checkout)."""
        connection = await self._checkout()
        try:
            yield connection
        except BaseException:
            await _discard(connection)
            await self.release_connections()
            raise
        if connection.in_transaction():  # the handler's session began one (autocommit)
            await connection.rollback()
        self._idle.append(connection)

    async def _checkout(self) -> AsyncConnection:
        """A kept connection, else one from the pool; never one whose socket the database
        has closed (after a restart or pg_terminate_backend every one of them has been):
        those are invalidated, so the pool does not hand them out again either."""
        assert self._engine is not None
        while True:
            connection = self._idle.pop() if self._idle else await self._engine.connect()
            if not (await _driver_of(connection)).is_closed():
                return connection
            await _discard(connection)

    async def release_connections(self) -> None:
        """Return the connections kept between events to the pool (``stop`` does; a runner
        fed by ``handle_record`` alone calls this when done with it)."""
        while self._idle:
            with contextlib.suppress(Exception):
                await _discard(self._idle.pop())

    async def _apply_in_session(
        self, event: EventBase, handler: Handler, record: ConsumerRecord[bytes, bytes]
    ) -> None:
        """The same for a session factory not bound to an engine: SQLAlchemy's transaction."""
        processed = self._tables.processed
        async with self._sessions() as session, session.begin():
            claimed = await session.execute(
                pg_insert(processed)
                .values(consumer=self.name, event_id=event.id)
                .on_conflict_do_nothing()
                .returning(processed.c.event_id)
            )
            if claimed.first() is None:
                EVENTS_SKIPPED.labels(self.name, "duplicate").inc()
                return
            await handler(event, HandlerContext(self._clock, record, lambda: session))
        EVENTS_HANDLED.labels(self.name, event.type).inc()

    async def _park(
        self, record: ConsumerRecord[bytes, bytes], event: EventBase | None, error: str
    ) -> None:
        EVENTS_DEAD.labels(self.name).inc()
        async with self._sessions() as session, session.begin():
            await session.execute(
                insert(self._tables.dead).values(
                    consumer=self.name,
                    event_id=event.id if event else None,
                    event_type=event.type if event else None,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    payload=record.value or b"",
                    error=error[:4000],
                )
            )


async def _driver_of(connection: AsyncConnection) -> Any:
    """The asyncpg connection under a checked-out SQLAlchemy one (no I/O)."""
    sync = connection.sync_connection
    raw = sync.connection if sync is not None else await connection.get_raw_connection()
    return raw.driver_connection


async def _discard(connection: AsyncConnection) -> None:
    """Back to the pool, or out of it for good when the database closed it."""
    if (await _driver_of(connection)).is_closed():
        await connection.invalidate()
    await connection.close()


async def _abandon(connection: AsyncConnection, driver: Any) -> None:
    """Roll back a transaction begun on the driver connection; if that fails, the connection
    must not go back to the pool (it could still be inside the transaction)."""
    try:
        if not driver.is_closed() and driver.is_in_transaction():
            await driver.execute("ROLLBACK")
    except BaseException:
        await connection.invalidate()
        raise
