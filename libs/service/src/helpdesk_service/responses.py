"""JSON responses rendered with orjson (UUIDs and datetimes natively, and fast)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        if content is None:
            return b""
        return orjson.dumps(content)
