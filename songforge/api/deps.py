"""Request dependencies: the app context and the authenticated, rate-limited caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response

from songforge.context import AppContext
from songforge.errors import ApiError
from songforge.services.keys import ApiKey, authenticate, needs_touch, parse_bearer, touch_key


@dataclass(frozen=True)
class Caller:
    key: ApiKey

    @property
    def account_id(self) -> str:
        return self.key.account_id


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def require_api_key(request: Request, response: Response) -> Caller:
    """Authenticate ``Authorization: Bearer aio_…`` and apply the per-key rate limit."""
    context = get_context(request)
    secret = parse_bearer(request.headers.get("authorization"))
    with context.db.read() as conn:
        key = authenticate(conn, secret)
    if needs_touch(key):
        with context.db.write() as conn:
            touch_key(conn, key)
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
    response.headers.update(headers)
    return Caller(key=key)


AuthenticatedCaller = Annotated[Caller, Depends(require_api_key)]
