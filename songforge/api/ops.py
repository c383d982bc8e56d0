"""Liveness, readiness, Prometheus metrics, and signed audio downloads."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from songforge.api.audio_files import audio_response
from songforge.api.deps import get_context
from songforge.errors import not_found
from songforge.services.task_records import TaskStatus, load_task

router = APIRouter()

_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{1,64}$")


@router.get("/healthz")
def healthz() -> Any:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Any:
    context = get_context(request)
    try:
        with context.db.read() as conn:
            conn.execute(text("SELECT 1"))
        database_ok = True
    except Exception:
        database_ok = False
    workers = context.live_workers() if database_ok else {}
    models = {spec.id: {"live_workers": workers.get(spec.id, 0)} for spec in context.catalog}
    ready = database_ok and any(workers.get(spec.id, 0) for spec in context.catalog)
    rate_limit = context.rate_limiter.health()
    return JSONResponse(
        {
            "status": "ready" if ready else "not_ready",
            "database": "ok" if database_ok else "unreachable",
            # "ok" (shared Redis), "memory" (one process, configured so), or why the
            # shared backend is not answering. Not a reason to stop taking traffic:
            # limits are then counted per process (services/rate_limits.py).
            "rate_limit": rate_limit,
            "degraded": [] if rate_limit in ("ok", "memory") else ["rate_limit"],
            "models": models,
        },
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
def metrics(request: Request) -> Response:
    context = get_context(request)
    return Response(generate_latest(context.metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/api/v1/files/{task_id}.mp3")
def download(task_id: str, request: Request, expires: str = "", sig: str = "") -> Any:
    """The link is the permission: no API key, but a valid, unexpired signature."""
    context = get_context(request)
    # Check the shapes first: "²" passes isdigit() but not int(), a 4,301-digit
    # number exceeds Python's int-conversion limit, and compare_digest refuses
    # non-ASCII text. All of them are simply invalid links.
    if not (_EXPIRES.fullmatch(expires) and _SIGNATURE.fullmatch(sig)) or not context.signer.verify(
        task_id, int(expires), sig
    ):
        raise not_found("This audio link is invalid or has expired; poll the task for a new one")
    with context.db.read() as conn:
        task = load_task(conn, task_id)
    if task is None or task.status != TaskStatus.COMPLETED:
        raise not_found("No audio for this task")
    if task.storage_key is None:
        raise not_found("This song's audio was deleted after the retention period")
    return audio_response(context, task.storage_key, f"{task_id}.mp3", request)
