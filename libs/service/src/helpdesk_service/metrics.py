"""HTTP request metrics by route template and status, for every service.

``http_requests_total{method, route, status}`` and ``http_request_duration_seconds{method,
route}``, where ``route`` is the path template (``/v1/tickets/{ticket_id}``), never the raw
path, so ids do not make a series each. Requests no route matched count as ``unmatched``.
"""

from __future__ import annotations

import re
import time
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to its answer's last byte, by route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
UNMATCHED = "unmatched"
# Any other method a client sends counts as OTHER_METHOD, so it cannot make new series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"


class HttpMetrics:
    """ASGI middleware: counts and times every HTTP request by route template and status.

    The router records the route it chose in the scope. A request answered before routing
    (by a middleware further in, such as the body limit's 413) is matched here against the
    paths of the app's OpenAPI document, so it counts under the route it was sent to."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # prometheus_client's labels() costs a dictionary build and a lock: once per series.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._templates: dict[str, list[tuple[re.Pattern[str], str]]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            count, duration = self._series_for(scope, status)
            count.inc()
            duration.observe(time.perf_counter() - started)

    def _series_for(self, scope: Scope, status: int) -> tuple[Any, Any]:
        method = scope["method"] if scope["method"] in METHODS else OTHER_METHOD
        route = self._template(scope, method)
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = (
                HTTP_REQUESTS.labels(method, route, str(status)),
                HTTP_REQUEST_DURATION.labels(method, route),
            )
            self._series[key] = series
        return series

    def _template(self, scope: Scope, method: str) -> str:
        path: str | None = getattr(scope.get("route"), "path", None)
        if path is not None:
            return path
        if self._templates is None:
            self._templates = _openapi_templates(scope["app"])
        for pattern, template in self._templates.get(method, ()):
            if pattern.match(scope["path"]):
                return template
        return UNMATCHED


def _openapi_templates(app: FastAPI) -> dict[str, list[tuple[re.Pattern[str], str]]]:
    """Per method, each path template of the app's OpenAPI document with its pattern."""
    templates: dict[str, list[tuple[re.Pattern[str], str]]] = {}
    for template, operations in app.openapi()["paths"].items():
        pattern = compile_path(template)[0]
        for method in operations:
            templates.setdefault(method.upper(), []).append((pattern, template))
    return templates
