"""``/healthz``, ``/readyz`` and ``/metrics``, the same on every service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .errors import error_body
from .responses import JsonResponse

ReadinessCheck = Callable[[Request], Awaitable[None]]


def ops_router(checks: dict[str, ReadinessCheck]) -> APIRouter:
    """``checks`` name what readiness needs (e.g. "database"); each raises when not ready."""
    router = APIRouter(tags=["ops"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/readyz")
    async def readyz(request: Request) -> JsonResponse:
        """Everything this service needs answers."""
        for name, check in checks.items():
            try:
                await check(request)
            except Exception as exc:
                return JsonResponse(error_body("not_ready", f"{name} unreachable: {exc}"), 503)
        return JsonResponse({"status": "ready"})

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
