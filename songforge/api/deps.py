"""Authentication and per-key rate limiting, as a function for the hot async routes
and as a dependency for the others."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy import Connection

from songforge.api.envelope import success
from songforge.context import AppContext
from songforge.db.database import WriteBusy
from songforge.db.types import utcnow
from songforge.errors import ApiError, unauthenticated
from songforge.services.ids import hash_secret
from songforge.services.keys import (
    ApiKey,
    check_secret_shape,
    ensure_active,
    find_key,
    needs_touch,
    touch_key,
)


@dataclass(frozen=True)
class Caller:
    key: ApiKey
    # X-RateLimit-* headers for the answer.
    headers: dict[str, str]

    @property
    def account_id(self) -> str:
        return self.key.account_id


def parse_bearer(authorization: str | None) -> str:
    """The key from an ``Authorization: Bearer <key>`` header, or a 401."""
    if not authorization:
        raise unauthenticated("Missing API key: send Authorization: Bearer <key>")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise unauthenticated("Malformed Authorization header: expected Bearer <key>")
    return token


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def authenticate_caller(
    context: AppContext, authorization: str | None, conn: Connection | None = None
) -> Caller:
    """Check ``Authorization: Bearer aio_…`` and count the call against the key's rate.

    Blocking (database work): call it from a thread or through ``Database.call``;
    pass ``conn`` to read the key inside the caller's transaction.
    """
    secret = parse_bearer(authorization)
    check_secret_shape(secret)
    key_hash = hash_secret(secret)
    found = context.key_cache.get(key_hash)
    if found is None:
        generation = context.key_cache.generation
        if conn is not None:
            found = find_key(conn, key_hash)
        else:
            with context.db.read() as own:
                found = find_key(own, key_hash)
        if found is not None:
            context.key_cache.put(key_hash, found, generation)
    key = ensure_active(found)
    if needs_touch(key):
        # Bookkeeping only: when the write lock is busy, record the use next time.
        with suppress(WriteBusy):
            with context.db.write(wait=False) as write:
                touch_key(write, key)
            context.key_cache.touched(key_hash, utcnow())
    limit = context.settings.rate_limit_per_minute
    decision = context.rate_limiter.hit(key.id, limit)
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_seconds),
    }
    if not decision.allowed:
        raise ApiError(
            429,
            "rate_limit",
            f"Rate limit of {limit} requests per minute exceeded for this key",
            headers={**headers, "Retry-After": str(decision.reset_seconds)},
        )
    return Caller(key=key, headers=headers)


def require_api_key(request: Request, response: Response) -> Caller:
    caller = authenticate_caller(get_context(request), request.headers.get("authorization"))
    response.headers.update(caller.headers)
    return caller


AuthenticatedCaller = Annotated[Caller, Depends(require_api_key)]


def encode_answer(data: Any) -> bytes:
    """The success envelope around ``data``, serialised once, without FastAPI's
    generic encoder (hot paths)."""
    return json.dumps(success(data), ensure_ascii=False, separators=(",", ":")).encode()


def json_response(body: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer serialised once, without FastAPI's generic encoder (hot paths)."""
    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(content, media_type="application/json", headers=headers)


def json_body_response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer already encoded (``encode_answer``)."""
    return Response(body, media_type="application/json", headers=headers)


# Base URLs by what they are made of; bounded, since the Host header is the
# client's to choose (past the bound they are worked out each time).
_BASE_URLS: dict[tuple[Any, ...], str] = {}
_BASE_URLS_KEPT = 256


def request_base_url(request: Request) -> str:
    """``str(request.base_url)``, which Starlette rebuilds by parsing on each call."""
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    server = scope.get("server")  # a tuple from uvicorn, a list from some clients
    parts = (scope.get("scheme"), host, tuple(server or ()), scope.get("root_path"))
    url = _BASE_URLS.get(parts)
    if url is None:
        url = str(request.base_url)
        if len(_BASE_URLS) < _BASE_URLS_KEPT:
            _BASE_URLS[parts] = url
    return url
