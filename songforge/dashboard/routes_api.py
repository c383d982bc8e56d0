"""Same-origin JSON routes for the API tester, answered in the public API's envelopes.

They run the public route's own steps (parse_music_request, the live-model
check, create_task with its hold, task_view); the only difference is who the
caller is: the signed-in session's account, with no API key (so no key cap or
allow-list applies, as for the account owner).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from songforge.api.envelope import success
from songforge.api.music_request import parse_music_request
from songforge.dashboard.routes_tasks import task_entry
from songforge.dashboard.web import CsrfHeader, CurrentUser, SignedIn, context_of
from songforge.errors import ApiError, invalid, not_found
from songforge.services.tasks import CreateResult, NewTask, create_task, get_task_for

router = APIRouter()


def _decode_json(raw: bytes) -> Any:
    if not raw.strip():
        raise invalid("The request body is empty; send a JSON object")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid(f"Malformed JSON: {exc}") from exc


def create_for_session(request: Request, user: SignedIn, body: Any) -> CreateResult:
    context = context_of(request)
    limit = context.settings.rate_limit_per_minute
    decision = context.rate_limiter.hit(f"dashboard-session:{user.account.id}", limit)
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limit",
            f"Rate limit of {limit} requests per minute exceeded",
            headers={"Retry-After": str(decision.reset_seconds)},
        )
    spec = None
    if isinstance(body, dict) and isinstance(body.get("model"), str):
        spec = context.catalog.get(body["model"])
    music = parse_music_request(
        body, max_duration=spec.max_duration_seconds if spec is not None else None
    )
    if spec is None:
        raise invalid(f"Unknown model {music.model!r}", "model")
    if context.live_workers().get(spec.id, 0) == 0:
        raise ApiError(
            503,
            "model_unavailable",
            f"Model {spec.id!r} has no live backend right now; try again later",
            param="model",
            headers={"Retry-After": "30"},
        )
    result = create_task(
        context.db,
        NewTask(
            account_id=user.account.id,
            api_key_id=None,
            model=spec.id,
            price=spec.price,
            input=music.as_input(),
            max_attempts=context.settings.max_attempts,
        ),
        max_concurrent=context.settings.max_concurrent_tasks,
    )
    context.metrics.tasks_created.labels(spec.id).inc()
    return result


@router.post("/dashboard/api/music")
async def create_music(request: Request, user: CurrentUser, _csrf: CsrfHeader) -> Any:
    body = _decode_json(await request.body())
    result = await run_in_threadpool(create_for_session, request, user, body)
    return success({"task_id": result.task.id, "status": result.task.status})


@router.get("/dashboard/api/tasks/{task_id}")
def get_task(task_id: str, request: Request, user: CurrentUser) -> Any:
    context = context_of(request)
    with context.db.read() as conn:
        task = get_task_for(conn, user.account.id, task_id)
        if task is None:
            raise not_found(f"No task {task_id!r}")
        live = context.live_workers() if not task.finished else {}
        entry = task_entry(conn, context, request, task, live)
    view: dict[str, Any] = entry["view"]
    return success(view)
