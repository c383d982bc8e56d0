"""How an upstream failure ends a task: one of the contract's relay error types.

Every failure of a relayed task is final for the attempt (the engine already
retried what was worth retrying within the task's deadline) and releases the
user's hold in full. Messages are ours, written for the user: never the
upstream's raw text (it may echo the request) and never a credential.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

UpstreamErrorKind = Literal[
    "content_policy",
    "upstream_rate_limited",
    "upstream_auth",
    "upstream_unavailable",
    "invalid_request",
]

# The ``code`` each type carries in the task's error object (an HTTP-like status
# that says whose fault it was; the task itself was answered 200 long ago).
ERROR_CODES: dict[str, int] = {
    "content_policy": 400,
    "invalid_request": 400,
    "upstream_rate_limited": 429,
    "upstream_auth": 502,
    "upstream_unavailable": 503,
}


@dataclass
class UpstreamError(Exception):
    """A failure of the upstream service, already classified.

    ``retryable``: another call may succeed (5xx, timeout, rate limit, garbage
    audio). ``breaks_circuit``: every other task would fail the same way (bad
    key, empty balance), so the model should stop taking work until a probe
    says the upstream is usable again. ``retry_after``: seconds the upstream
    asked us to wait, when it said.
    """

    kind: UpstreamErrorKind
    message: str
    retryable: bool = False
    breaks_circuit: bool = False
    retry_after: float | None = None

    def __post_init__(self) -> None:
        Exception.__init__(self, self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Raised in the relay's audio processes and sent back to the worker by pickle,
        # which would otherwise call the class with the message alone.
        fields = (self.kind, self.message, self.retryable, self.breaks_circuit, self.retry_after)
        return (type(self), fields)

    def task_error(self) -> dict[str, Any]:
        return {"code": ERROR_CODES[self.kind], "message": self.message, "type": self.kind}


def unavailable(message: str, *, retryable: bool = True) -> UpstreamError:
    return UpstreamError("upstream_unavailable", message, retryable=retryable)


def rate_limited(message: str, retry_after: float | None = None) -> UpstreamError:
    return UpstreamError("upstream_rate_limited", message, retryable=True, retry_after=retry_after)


def auth_failed(message: str) -> UpstreamError:
    return UpstreamError("upstream_auth", message, breaks_circuit=True)


def content_refused(message: str) -> UpstreamError:
    return UpstreamError("content_policy", message)


def invalid(message: str) -> UpstreamError:
    return UpstreamError("invalid_request", message)


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header given in seconds (the HTTP-date form is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
