"""A tiny ASGI app for the serve tests: every request answers with the worker's pid.

``python -m tests.service.app PORT WORKERS [MAX_START_FAILURES]`` serves it through
``helpdesk_service.serve.serve``. With ``SERVE_TEST_FAIL_STARTUP=1`` the factory fails, as an
app whose lifespan cannot reach its database would.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from helpdesk_service.logs import configure_logging
from helpdesk_service.serve import serve

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def create_app() -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    if os.environ.get("SERVE_TEST_FAIL_STARTUP") == "1":
        raise RuntimeError("SERVE_TEST_FAIL_STARTUP: this app does not start")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = str(os.getpid()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"text/plain"),
                    (b"content-length", b"%d" % len(body)),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    configure_logging()
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    failures = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    serve(
        "tests.service.app:create_app",
        "127.0.0.1",
        port,
        workers,
        stop_timeout=10.0,
        max_start_failures=failures,
    )
