"""The success envelope of api.md."""

from __future__ import annotations

from typing import Any


def success(data: Any) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}
