"""/api/openapi.json: the contract of docs/api.md as an OpenAPI 3.1 document.

FastAPI's own generator cannot describe this API: create and poll are plain
Starlette routes (decision 0001 §13) that it does not see, the other routes read
their parameters as strings to answer bad ones in the envelope (so it would type
them wrongly and promise a 422 that is never sent), and it knows neither the
Bearer scheme nor the error answers. So every operation is written here, once,
with its parameters, body, answers and security; FastAPI's generator is only used
to check that this table covers exactly the routes the application serves, with
exactly the parameters they read (``build_openapi`` raises otherwise).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from songforge.api import schemas
from songforge.api.music import IDEMPOTENCY_KEY_MAX
from songforge.catalog import Catalog
from songforge.services.task_records import STATUSES

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{model}"
BEARER = "bearer"

# Each error status: its type, and why it is answered (docs/api.md, Errors).
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "a value outside the rules (param names the field)"),
    401: ("authentication_error", "no, unknown, revoked or expired key"),
    402: ("insufficient_credits", "balance minus holds is below the model's price"),
    403: ("permission_denied", "key not allowed this model, or its credit cap is reached"),
    404: ("not_found", "unknown task (or not yours)"),
    409: ("idempotency_conflict", "same Idempotency-Key, different body"),
    413: ("invalid_request", "body over the size limit (64 KiB by default)"),
    415: ("invalid_request", "the body is not sent as Content-Type: application/json (UTF-8)"),
    429: ("rate_limit", "per-key request rate, or too many unfinished tasks on the account"),
    500: ("internal_error", "anything unexpected (quote the X-Request-Id)"),
    503: ("service_unavailable", "the database cannot be reached; nothing was done"),
}
# The create's 503 has one more reason.
MODEL_UNAVAILABLE = (
    "model_unavailable",
    "the model exists but no live worker serves it now; or service_unavailable: the database "
    "cannot be reached (nothing was done)",
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    summary: str
    tag: str
    answer: dict[str, Any]
    errors: tuple[int, ...] = ()
    authenticated: bool = True
    parameters: tuple[dict[str, Any], ...] = ()
    body: type[BaseModel] | None = None
    description: str = ""
    extra_answers: dict[str, dict[str, Any]] = field(default_factory=dict)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": SCHEMA_REF.format(model=model.__name__)}


def _header(description: str, *, required: bool = False, integer: bool = False) -> dict[str, Any]:
    return {
        "description": description,
        "required": required,
        "schema": {"type": "integer" if integer else "string"},
    }


REQUEST_ID = _header("Echo of a sane X-Request-Id you sent, or a new one", required=True)
RATE_HEADERS = {
    "X-RateLimit-Limit": _header("Requests allowed per minute for this key", integer=True),
    "X-RateLimit-Remaining": _header("Requests left in this minute", integer=True),
    "X-RateLimit-Reset": _header("Seconds until the window ends", integer=True),
}


def _json_answer(
    description: str, model: type[BaseModel], headers: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "description": description,
        "headers": {"X-Request-Id": REQUEST_ID, **(headers or {})},
        "content": {"application/json": {"schema": _ref(model)}},
    }


def _error_answer(status: int, operation_id: str) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if status == 401:
        headers["WWW-Authenticate"] = _header("Bearer")
    if status in (429, 503):
        headers["Retry-After"] = _header("Seconds to wait before trying again", integer=True)
    if status == 429:
        headers.update(RATE_HEADERS)
    type, why = (
        MODEL_UNAVAILABLE if (status, operation_id) == (503, "create_music") else ERRORS[status]
    )
    answer = _json_answer(f"{type}: {why}", schemas.ErrorAnswer, headers)
    answer["content"]["application/json"]["example"] = {
        "error": {"code": status, "message": why[0].upper() + why[1:], "type": type}
    }
    return answer


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _query(name: str, description: str, schema: dict[str, Any], *, required: bool = False) -> Any:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


TASK_ID = _path_param("task_id", "The task id from the create answer (tsk_…)")
AUTHED_SUCCESS_HEADERS = RATE_HEADERS
BINARY = {"schema": {"type": "string", "format": "binary"}}


def _signature(source: str) -> tuple[Any, Any]:
    """The expires and sig query parameters of a signed link taken from ``source``."""
    return (
        _query(
            "expires",
            f"From {source}",
            {"type": "integer", "minimum": 0, "maximum": 10**12 - 1},
            required=True,
        ),
        _query(
            "sig",
            f"From {source}",
            {"type": "string", "pattern": "^[0-9a-f]{1,64}$"},
            required=True,
        ),
    )


def _lossless_download(container: str) -> Operation:
    """The song of a task asked with format wav or flac (issue 14)."""
    return Operation(
        "get",
        f"/api/v1/files/{{task_id}}.{container}",
        f"download_{container}",
        f"The audio of a completed task asked as {container}",
        "music",
        {
            "description": f"The {container.upper()} file (16-bit PCM)",
            "headers": {"X-Request-Id": REQUEST_ID},
            "content": {f"audio/{container}": BINARY},
        },
        errors=(404, 503),
        authenticated=False,
        parameters=(TASK_ID, *_signature("output.audio_url")),
        description="As the MP3's link: output.audio_url of a task made with format "
        f"{container}. Another task's song, or an invalid or expired link, is 404.",
    )


TASK_FILE = {
    "name": "file_name",
    "in": "path",
    "required": True,
    "description": "vocals.<ext> or instrumental.<ext> (the song's format), or lyrics.lrc",
    "schema": {
        "type": "string",
        "pattern": r"^((vocals|instrumental)\.(mp3|wav|flac)|lyrics\.lrc)$",
    },
}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/api/v1/audio/music",
        "create_music",
        "Create a song",
        "music",
        _json_answer(
            "Queued; poll GET /api/v1/tasks/{task_id}",
            schemas.TaskCreatedAnswer,
            {
                **AUTHED_SUCCESS_HEADERS,
                "Idempotent-Replayed": _header("true when an Idempotency-Key replayed a task"),
            },
        ),
        errors=(400, 401, 402, 403, 409, 413, 415, 429, 503),
        parameters=(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "The same key with the same body within 24 h returns the first "
                "task again, without a second charge",
                "schema": {"type": "string", "minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
            },
        ),
        body=schemas.MusicRequest,
        description="Validates the request, holds the model's price in credits and queues "
        "the task.",
    ),
    Operation(
        "get",
        "/api/v1/tasks/{task_id}",
        "get_task",
        "Poll a task",
        "tasks",
        _json_answer("The task", schemas.TaskAnswer, AUTHED_SUCCESS_HEADERS),
        errors=(401, 404, 429, 503),
        parameters=(TASK_ID,),
        description="A task of another account is 404, like an unknown one.",
    ),
    Operation(
        "get",
        "/api/v1/tasks",
        "list_tasks",
        "List your tasks, newest first",
        "tasks",
        _json_answer("A page of tasks", schemas.TaskPageAnswer, AUTHED_SUCCESS_HEADERS),
        errors=(400, 401, 429, 503),
        parameters=(
            _query("status", "Only tasks in this status", {"type": "string", "enum": STATUSES}),
            _query("model", "Only tasks of this model", {"type": "string"}),
            _query(
                "limit",
                "Page size (default 20)",
                {"type": "integer", "minimum": 1, "maximum": 100},
            ),
            _query("cursor", "data.next_cursor of the previous page", {"type": "string"}),
        ),
    ),
    Operation(
        "post",
        "/api/v1/tasks/{task_id}/cancel",
        "cancel_task",
        "Cancel an unfinished task",
        "tasks",
        _json_answer(
            "The task, failed with type canceled; its hold released",
            schemas.TaskAnswer,
            AUTHED_SUCCESS_HEADERS,
        ),
        errors=(400, 401, 404, 413, 429, 503),
        parameters=(TASK_ID,),
        description="A task that has already finished is 400 (param task_id).",
    ),
    Operation(
        "get",
        "/api/v1/models",
        "list_models",
        "Live models",
        "models",
        _json_answer(
            "The models a worker serves now", schemas.ModelListAnswer, AUTHED_SUCCESS_HEADERS
        ),
        errors=(401, 429, 503),
    ),
    Operation(
        "get",
        "/api/v1/account",
        "get_account",
        "Balance and the calling key",
        "account",
        _json_answer("The account", schemas.AccountAnswer, AUTHED_SUCCESS_HEADERS),
        errors=(401, 404, 429, 503),
    ),
    Operation(
        "get",
        "/api/v1/files/{task_id}.mp3",
        "download_audio",
        "The audio of a completed task",
        "music",
        {
            "description": "The MP3",
            "headers": {"X-Request-Id": REQUEST_ID},
            "content": {"audio/mpeg": {"schema": {"type": "string", "format": "binary"}}},
        },
        errors=(404, 503),
        authenticated=False,
        parameters=(
            TASK_ID,
            _query(
                "expires",
                "From output.audio_url",
                {"type": "integer", "minimum": 0, "maximum": 10**12 - 1},
                required=True,
            ),
            _query(
                "sig",
                "From output.audio_url",
                {"type": "string", "pattern": "^[0-9a-f]{1,64}$"},
                required=True,
            ),
        ),
        description="The signed link of output.audio_url is the permission: no API key. An "
        "invalid or expired link is 404; poll the task for a fresh one.",
    ),
    _lossless_download("wav"),
    _lossless_download("flac"),
    Operation(
        "get",
        "/api/v1/files/{task_id}/{file_name}",
        "download_task_file",
        "A stem or the timed lyrics of a completed task",
        "music",
        {
            "description": "A stem, in the song's format, or the enhanced LRC file (UTF-8 "
            "text, a [mm:ss.xx] time per line and a <mm:ss.xx> tag per word)",
            "headers": {"X-Request-Id": REQUEST_ID},
            "content": {
                "audio/mpeg": BINARY,
                "audio/wav": BINARY,
                "audio/flac": BINARY,
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        errors=(404, 503),
        authenticated=False,
        parameters=(TASK_ID, TASK_FILE, *_signature("output.stems or output.lrc_url")),
        description="The links of output.stems and output.lrc_url (issue 14); each is signed "
        "for its own file. Invalid or expired: 404, as is a file the task does not have.",
    ),
    Operation(
        "get",
        "/healthz",
        "healthz",
        "Alive",
        "operations",
        _json_answer("The process answers", schemas.Health),
        authenticated=False,
    ),
    Operation(
        "get",
        "/readyz",
        "readyz",
        "Ready to make songs",
        "operations",
        _json_answer("The database answers and some model has a live worker", schemas.Readiness),
        authenticated=False,
        extra_answers={
            "503": _json_answer("Not ready (same shape, saying what is missing)", schemas.Readiness)
        },
    ),
    Operation(
        "get",
        "/metrics",
        "metrics",
        "Prometheus metrics",
        "operations",
        {
            "description": "Prometheus text exposition format",
            "headers": {"X-Request-Id": REQUEST_ID},
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        authenticated=False,
    ),
)


def create_example(catalog: Catalog) -> dict[str, Any]:
    """The request of docs/api.md, for a model this server knows."""
    ids = sorted(spec.id for spec in catalog)
    return {
        "model": "minimax-music" if "minimax-music" in ids or not ids else ids[0],
        "prompt": "An energetic electronic dance track with pulsing synths and driving bass",
        "lyrics": "[Verse]\nFeel the beat, move your feet, let the music take you higher",
        "bitrate": 256000,
        "sample_rate": 44100,
    }


def _operation(op: Operation, catalog: Catalog) -> dict[str, Any]:
    answers: dict[str, Any] = {"200": op.answer, **op.extra_answers}
    for status in (*op.errors, 500):
        answers[str(status)] = _error_answer(status, op.operation_id)
    document: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "responses": answers,
        "security": [{BEARER: []}] if op.authenticated else [],
    }
    if op.description:
        document["description"] = op.description
    if op.parameters:
        document["parameters"] = list(op.parameters)
    if op.body is not None:
        document["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": _ref(op.body), "example": create_example(catalog)}
            },
        }
    return document


def _components(catalog: Catalog) -> dict[str, Any]:
    _, top = models_json_schema(
        [(model, "validation") for model in schemas.DOCUMENTED_MODELS], ref_template=SCHEMA_REF
    )
    found: dict[str, Any] = top["$defs"]
    request = found["MusicRequest"]["properties"]
    # The model ids and the longest duration depend on this server's catalog.
    models = sorted(spec.id for spec in catalog)
    request["model"]["enum"] = models
    longest = max((spec.max_duration_seconds for spec in catalog), default=None)
    if longest is not None:
        request["duration"]["anyOf"][0]["maximum"] = longest
    return found


def _check_routes(routes: Sequence[BaseRoute], operations: Iterable[Operation]) -> None:
    """Raise unless the table documents exactly the routes the app serves, with their
    parameters (FastAPI routes) - so a new route or parameter cannot go undocumented."""
    generated = get_openapi(title="check", version="0", routes=list(routes))["paths"]
    documented = {(op.path, op.method): op for op in operations}
    served = {(path, method) for path, ops in generated.items() for method in ops}
    plain = {
        (route.path, method.lower())
        for route in routes
        if type(route) is Route and route.include_in_schema
        for method in (route.methods or ())
        if method != "HEAD"
    }
    missing = (served | plain) - set(documented)
    unserved = set(documented) - served - plain
    if missing or unserved:
        raise RuntimeError(
            f"OpenAPI table out of date: undocumented {sorted(missing)}, "
            f"not served {sorted(unserved)}"
        )
    for (path, method), generated_op in ((k, generated[k[0]][k[1]]) for k in served):
        names = {p["name"] for p in generated_op.get("parameters", [])}
        table = {p["name"] for p in documented[(path, method)].parameters}
        if names != table:
            raise RuntimeError(f"OpenAPI parameters of {method.upper()} {path}: {names} != {table}")


def build_openapi(app: FastAPI, catalog: Catalog) -> dict[str, Any]:
    _check_routes(app.routes, OPERATIONS)
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method] = _operation(op, catalog)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": app.title,
            "version": app.version,
            "description": app.description,
        },
        "paths": paths,
        "components": {
            "schemas": _components(catalog),
            "securitySchemes": {
                BEARER: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (aio_…) from the dashboard or "
                    "`songforge keys create`",
                }
            },
        },
        "tags": [
            {"name": "music", "description": "Create songs and fetch their audio"},
            {"name": "tasks", "description": "Follow, list and cancel tasks"},
            {"name": "models", "description": "What can be made here"},
            {"name": "account", "description": "Credits and the calling key"},
            {"name": "operations", "description": "For operators and load balancers"},
        ],
    }


def install_openapi(app: FastAPI, catalog: Catalog) -> None:
    """Serve ``build_openapi`` as the app's document (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app, catalog)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
