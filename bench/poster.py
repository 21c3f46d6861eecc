"""A lean HTTP/1.1 client for load generators that share the machine under test.

A request costs aiohttp about 0.5 ms of CPU; here, with pre-built headers, keep-alive
connections and httptools' parser, about a tenth of that. Every CPU-second the load
generator does not spend is one the services under test keep. Only what the benches need:
requests with a body, ``Content-Length`` or chunked responses, no redirects, no TLS.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

import httptools


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._body: list[bytes] = []
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.answered = False  # whether any of the current request's answer arrived

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("the server closed the connection"))

    # httptools callbacks
    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        waiter, self._waiter = self._waiter, None
        body, self._body = b"".join(self._body), []
        if not self._parser.should_keep_alive():
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result((self._parser.get_status_code(), body))

    def _fail(self, exc: BaseException) -> None:
        self.closed = True
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def send(self, request: bytes) -> asyncio.Future[tuple[int, bytes]]:
        assert self._transport is not None
        assert self._waiter is None
        self._waiter = asyncio.get_running_loop().create_future()
        self.answered = False
        self._transport.write(request)
        return self._waiter

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()


class Poster:
    """Keep-alive connections to one host: ``status, body = await poster.post(path, body)``."""

    def __init__(self, host: str, port: int, headers: dict[str, str] | None = None) -> None:
        self._host, self._port = host, port
        lines = [f"Host: {host}:{port}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
        self._headers = "".join(f"{line}\r\n" for line in lines).encode()
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def __aenter__(self) -> Poster:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        for connection in self._all:
            connection.close()
        self._all.clear()
        self._idle.clear()

    async def post(
        self, path: str, body: bytes, content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        return await self.request("POST", path, body, content_type)

    async def request(
        self, method: str, path: str, body: bytes = b"", content_type: str = "application/json"
    ) -> tuple[int, bytes]:
        head = (
            f"{method} {path} HTTP/1.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n"
        ).encode()
        request = head + self._headers + b"\r\n" + body
        connection, reused = await self._connection()
        try:
            result = await connection.send(request)
        except ConnectionError:
            connection.close()
            self._all.discard(connection)
            if not reused or connection.answered:
                raise
            # A kept connection the server closed as idle just as this request went out
            # (it closes only connections with no request in flight): once more, afresh.
            connection, _ = await self._connection(fresh=True)
            result = await connection.send(request)
        except BaseException:
            connection.close()
            self._all.discard(connection)
            raise
        if connection.closed:
            self._all.discard(connection)
        else:
            self._idle.append(connection)
        return result

    async def _connection(self, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """A connection and whether it was kept from an earlier request."""
        while self._idle and not fresh:
            connection = self._idle.pop()
            if not connection.closed:
                return connection, True
            self._all.discard(connection)
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self._host, self._port)
        self._all.add(connection)
        return connection, False
