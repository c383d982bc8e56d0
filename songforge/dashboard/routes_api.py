"""Same-origin JSON routes for the API tester, answered in the public API's envelopes.

They run the public route's own steps (services/music_tasks.py's
create_music_task: validation, the live-model check, the hold; then task_view);
the only difference is who the caller is: the signed-in session's account, with
no API key (so no key cap or allow-list applies, as for the account owner).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from songforge.api.envelope import success
from songforge.api.json_body import decode_json_body
from songforge.dashboard.routes_tasks import task_entry
from songforge.dashboard.web import CsrfHeader, CurrentUser, SignedIn, context_of
from songforge.errors import ApiError, not_found
from songforge.services.music_tasks import create_music_task
from songforge.services.tasks import CreateResult, get_task_for

router = APIRouter()


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
    return create_music_task(context.task_creation(), user.account.id, None, body)


@router.post("/dashboard/api/music")
async def create_music(request: Request, user: CurrentUser, _csrf: CsrfHeader) -> Any:
    body = decode_json_body(await request.body())
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
