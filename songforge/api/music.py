"""POST /api/v1/audio/music: the HTTP side of creating a task (services/music_tasks.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.routing import Route

from songforge.api.deps import authenticate_caller, get_context, json_response
from songforge.api.envelope import success
from songforge.api.json_body import decode_json_body, require_json_content_type
from songforge.errors import invalid
from songforge.services.music_tasks import create_music_task_together

router = APIRouter()

IDEMPOTENCY_KEY_MAX = 255


async def create_music(request: Request) -> Response:
    """POST /api/v1/audio/music — a plain Starlette endpoint (see ``routes``)."""
    context = get_context(request)
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= IDEMPOTENCY_KEY_MAX:
        raise invalid(
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} characters", "Idempotency-Key"
        )
    raw = await request.body()
    # Two calls: a create that has to wait for the write lock is rerun in the
    # thread pool (Database.call), and the key's rate must not be counted twice.
    caller = await context.db.call(
        authenticate_caller, context, request.headers.get("authorization")
    )
    require_json_content_type(request)
    body = decode_json_body(raw)
    result = await create_music_task_together(
        context.task_creation(), caller.account_id, caller.key, body, idempotency_key
    )
    headers = dict(caller.headers)
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(
        success({"task_id": result.task.id, "status": result.task.status}), headers
    )


# The two hottest routes skip FastAPI's parameter machinery: they parse what they
# need themselves, and that is a large share of a request's cost here.
routes = [Route("/api/v1/audio/music", create_music, methods=["POST"])]
