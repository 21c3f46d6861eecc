import asyncio
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import pytest
from helpdesk_devstack import LocalPostgres, free_port


@pytest.fixture
def own_cluster() -> Iterator[LocalPostgres]:
    """A cluster of the test's own, for tests that stop and restart it."""
    data_dir = Path(tempfile.mkdtemp(prefix="helpdesk-test-pg-"))
    cluster = LocalPostgres(data_dir, free_port(), fast=True)
    yield cluster
    cluster.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


async def fetchval(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_server_accepts_queries_as_the_configured_user(pg_server: LocalPostgres):
    assert pg_server.is_running()
    assert pg_server.url == (
        f"postgresql+asyncpg://helpdesk:helpdesk@127.0.0.1:{pg_server.port}/helpdesk"
    )
    dsn = pg_server.dsn_for(pg_server.database)
    assert await fetchval(dsn, "SELECT current_user || '@' || current_database()") == (
        "helpdesk@helpdesk"
    )
    assert await fetchval(dsn, "SHOW fsync") == "off"


async def test_wrong_password_is_refused(pg_server: LocalPostgres):
    dsn = pg_server.dsn_for("helpdesk").replace(":helpdesk@", ":wrong@")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(dsn)


async def test_restart_keeps_data(own_cluster: LocalPostgres):
    own_cluster.start()
    dsn = own_cluster.dsn_for(own_cluster.database)
    conn = await asyncpg.connect(dsn)
    await conn.execute("CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')")
    await conn.close()

    own_cluster.stop()
    assert not own_cluster.is_running()
    own_cluster.start()

    assert await fetchval(dsn, "SELECT note FROM kept") == "still here"


async def test_starts_over_a_stale_pid_file_from_a_killed_run(own_cluster: LocalPostgres):
    own_cluster.start()
    own_cluster.stop()
    # After a crash or reboot the recorded PID may belong to an unrelated live process.
    pid_file = own_cluster.data_dir / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{own_cluster.data_dir}\n0\n{own_cluster.port}\n")
    assert not own_cluster.is_running()

    own_cluster.start()

    assert own_cluster.is_running()
    assert await fetchval(own_cluster.dsn_for("helpdesk"), "SELECT 1") == 1


async def test_starts_again_after_the_server_was_killed(own_cluster: LocalPostgres):
    own_cluster.start()
    dsn = own_cluster.dsn_for(own_cluster.database)
    conn = await asyncpg.connect(dsn)  # a backend that outlives its postmaster for a moment
    postmaster = int((own_cluster.data_dir / "postmaster.pid").read_text().split()[0])

    os.kill(postmaster, signal.SIGKILL)
    # The kill is delivered asynchronously: wait for the process to be gone.
    async with asyncio.timeout(10):
        while own_cluster.is_running():
            await asyncio.sleep(0.05)
    own_cluster.start()

    assert await fetchval(dsn, "SELECT 1") == 1
    conn.terminate()


async def test_create_database_from_template_and_drop(pg_server: LocalPostgres):
    template = f"tpl_{uuid.uuid4().hex[:8]}"
    copy = f"copy_{uuid.uuid4().hex[:8]}"
    await pg_server.create_database(template)
    conn = await asyncpg.connect(pg_server.dsn_for(template))
    await conn.execute("CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (7)")
    await conn.close()

    await pg_server.create_database(copy, template=template)
    assert await fetchval(pg_server.dsn_for(copy), "SELECT id FROM seeded") == 7

    # An open connection must not prevent the drop.
    holder = await asyncpg.connect(pg_server.dsn_for(copy))
    await pg_server.drop_database(copy)
    await pg_server.drop_database(template)
    await holder.close()
    names = await fetchval(
        pg_server.dsn_for("postgres"), "SELECT string_agg(datname, ',') FROM pg_database"
    )
    assert copy not in str(names).split(",")
    assert template not in str(names).split(",")
    await pg_server.drop_database(copy)  # dropping a missing database is not an error
