"""POST /api/v1/audio/music: validate, hold credits, queue the task."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.routing import Route

from songforge.api.deps import authenticate_caller, get_context, json_response
from songforge.api.envelope import success
from songforge.api.json_body import decode_json_body, require_json_content_type
from songforge.api.music_request import parse_music_request
from songforge.context import AppContext
from songforge.errors import ApiError, forbidden, invalid
from songforge.services.keys import ApiKey
from songforge.services.tasks import CreateResult, NewTask, create_task, request_fingerprint

router = APIRouter()

IDEMPOTENCY_KEY_MAX = 255


__all__ = ["create_music_task", "decode_json_body", "router", "routes"]


def create_music_task(
    context: AppContext,
    account_id: str,
    key: ApiKey | None,
    body: Any,
    idempotency_key: str | None = None,
) -> CreateResult:
    """Validate a create body and queue the task for ``account_id``.

    Shared by the public route (with the caller's key, whose allow-list and credit
    cap apply) and the dashboard's tester (the signed-in owner, no key).
    """
    spec = None
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        spec = context.catalog.get(body["model"])
    music = parse_music_request(
        body, max_duration=spec.max_duration_seconds if spec is not None else None
    )
    if spec is None:
        raise invalid(
            f"Unknown model {music.model!r}; GET /api/v1/models lists the available ones",
            "model",
        )
    if not context.accepts_tasks_for(spec.id):
        raise ApiError(
            503,
            "model_unavailable",
            f"Model {spec.id!r} has no live backend right now; try again later",
            param="model",
            headers={"Retry-After": "30"},
        )
    if key is not None and not key.allows_model(spec.id):
        raise forbidden(f"This API key is not allowed to use model {spec.id!r}", "model")
    result = create_task(
        context.db,
        NewTask(
            account_id=account_id,
            api_key_id=key.id if key is not None else None,
            model=spec.id,
            price=spec.price,
            input=music.to_stored(),
            max_attempts=context.settings.max_attempts,
        ),
        max_concurrent=context.settings.max_concurrent_tasks,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint(body) if idempotency_key else None,
    )
    if not result.replayed:
        context.metrics.tasks_created.labels(spec.id).inc()
    return result


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
    result = await context.db.call(
        create_music_task, context, caller.account_id, caller.key, body, idempotency_key
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
