"""Every error leaves in the one envelope of api.md, whatever raised it."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from songforge.errors import ApiError, error_body
from songforge.services.errors import (
    ConcurrencyLimitReached,
    DomainError,
    IdempotencyConflict,
    InsufficientCredits,
    InvalidField,
    ModelUnavailable,
    NotPermitted,
    Unauthenticated,
)
from songforge.text_safety import scrub_surrogates

log = logging.getLogger("songforge.api")

_STATUS_TYPES = {
    400: "invalid_request",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "invalid_request",
    415: "invalid_request",
    429: "rate_limit",
}

# The one place a refusal of the rules (services/errors.py) gets its HTTP status
# and api.md error type.
_DOMAIN_ANSWERS: dict[type[DomainError], tuple[int, str]] = {
    InvalidField: (400, "invalid_request"),
    Unauthenticated: (401, "authentication_error"),
    InsufficientCredits: (402, "insufficient_credits"),
    NotPermitted: (403, "permission_denied"),
    IdempotencyConflict: (409, "idempotency_conflict"),
    ConcurrencyLimitReached: (429, "rate_limit"),
    ModelUnavailable: (503, "model_unavailable"),
}


def api_error_for(exc: DomainError) -> ApiError:
    """The HTTP answer to a refusal: status, error type, ``param`` and headers."""
    answer = next(
        (_DOMAIN_ANSWERS[kind] for kind in type(exc).__mro__ if kind in _DOMAIN_ANSWERS), None
    )
    if answer is None:
        raise TypeError(f"{type(exc).__name__} has no HTTP answer in _DOMAIN_ANSWERS")
    status, error_type = answer
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.retry_after_seconds is not None:
        headers["Retry-After"] = str(exc.retry_after_seconds)
    return ApiError(status, error_type, exc.message, param=exc.field, headers=headers)


DATABASE_RETRY_AFTER_SECONDS = 5


# SQLSTATE classes of a server that is away: 08 connection exceptions, 57P admin or
# crash shutdown and "cannot connect now" (starting up or in recovery).
_AWAY_SQLSTATES = ("08", "57P")
_SQLITE_BUSY = ("database is locked", "unable to open database file")


def _database_unreachable(exc: DBAPIError) -> bool:
    """Connection lost or refused (or SQLite's lock wait ran out), as opposed to a bug
    such as a missing table, which stays a 500."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_AWAY_SQLSTATES)
    message = str(exc.orig)
    if "sqlite" in type(exc.orig).__module__:
        return message.startswith(_SQLITE_BUSY)
    # psycopg reports a failed connection attempt without a SQLSTATE.
    return True


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", ""))


def _respond(
    request: Request,
    status: int,
    type: str,
    message: str,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    # X-Request-Id is added by RequestContextMiddleware, to every answer.
    # Messages may quote what the client sent; never let that make the answer fail.
    body = error_body(
        status, type, scrub_surrogates(message), scrub_surrogates(param) if param else param
    )
    return JSONResponse(body, status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return _respond(request, exc.status, exc.type, exc.message, exc.param, exc.headers)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> JSONResponse:
        answer = api_error_for(exc)
        return _respond(
            request, answer.status, answer.type, answer.message, answer.param, answer.headers
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type = _STATUS_TYPES.get(
            exc.status_code, "internal_error" if exc.status_code >= 500 else "invalid_request"
        )
        if exc.status_code == 404:
            message = f"No route {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"Method {request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return _respond(request, exc.status_code, type, message, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        location = [
            str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")
        ]
        param = ".".join(location) or None
        message = str(first.get("msg", "Invalid parameters"))
        return _respond(request, 400, "invalid_request", f"Invalid parameters: {message}", param)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if not _database_unreachable(exc):
            raise exc  # a bug, not an outage: RequestContextMiddleware answers 500
        log.warning("database unreachable, request id %s: %s", _request_id(request), exc.orig)
        return _respond(
            request,
            503,
            "service_unavailable",
            "The service cannot reach its database right now; nothing was done. Try again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The last resort: RequestContextMiddleware answers unexpected errors (and
        # keeps the connection); this runs only when that middleware itself fails,
        # outside it (in Starlette's ServerErrorMiddleware), so it adds the id itself.
        log.exception("unhandled error, request id %s", _request_id(request))
        return _respond(
            request,
            500,
            "internal_error",
            f"Internal error; quote request id {_request_id(request)} when reporting it",
            headers={"X-Request-Id": _request_id(request)},
        )
