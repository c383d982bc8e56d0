"""Per-key request rate limits in fixed one-minute windows.

In memory for one process; with a ``redis://`` backend every API replica
shares the same counters.

When Redis cannot be reached the limits fail *open to this process*
(docs/decisions/0005-hardening.md): each replica counts in its own memory
until Redis answers again, logs a warning, and counts the fallback in
``songforge_rate_limit_backend_errors_total``; ``/readyz`` says so. An API that
answered nothing while a counter store is down would turn a cache outage into
a full outage, and counting in memory still bounds every client per replica
(sign-in guessing included).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("songforge.rate_limits")

# After a failure, Redis is tried again at most this often (a dead Redis must not
# cost every request a connection timeout).
RETRY_SECONDS = 2.0
REDIS_TIMEOUT_SECONDS = 0.25

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int) -> RateDecision: ...

    def count(self, key: str) -> int:
        """Hits on ``key`` in the current window, without adding one."""
        ...

    def health(self) -> str:
        """ "ok", "memory" (one process only, by choice) or what is wrong."""
        ...


def _decide(count: int, limit: int, now: float) -> RateDecision:
    reset = WINDOW_SECONDS - int(now) % WINDOW_SECONDS
    return RateDecision(
        allowed=count <= limit, limit=limit, remaining=max(0, limit - count), reset_seconds=reset
    )


class MemoryRateLimiter:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._window = -1
        self._counts: dict[str, int] = {}

    def hit(self, key: str, limit: int) -> RateDecision:
        now = time.time()
        window = int(now) // WINDOW_SECONDS
        with self._lock:
            if window != self._window:
                self._window = window
                self._counts = {}
            count = self._counts.get(key, 0) + 1
            self._counts[key] = count
        return _decide(count, limit, now)

    def count(self, key: str) -> int:
        window = int(time.time()) // WINDOW_SECONDS
        with self._lock:
            return self._counts.get(key, 0) if window == self._window else 0

    def health(self) -> str:
        return "memory"


class RedisRateLimiter:
    """Counters in Redis, shared by every replica.

    When Redis cannot be reached the limiter degrades to per-process counting
    (each replica then enforces the limit on its own share) rather than failing
    the request: a rate limit is a guard, not a reason to refuse paying users.
    After a failure it waits ``retry_seconds`` before asking Redis again, so a
    dead Redis costs one connection timeout per interval, not one per request.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "songforge:rl:",
        retry_seconds: float | None = None,
        on_error: Callable[[], None] = lambda: None,
    ) -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._prefix = prefix
        self._retry_seconds = retry_seconds
        self._fallback = MemoryRateLimiter()
        self._on_error = on_error
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._lock = threading.Lock()

    @property
    def degraded(self) -> bool:
        """True while counting in this process because Redis failed."""
        return self._down_since is not None and time.monotonic() < self._retry_at

    def hit(self, key: str, limit: int) -> RateDecision:
        now = time.time()
        if self.degraded:
            return self._fallback.hit(key, limit)
        window = int(now) // WINDOW_SECONDS
        name = f"{self._prefix}{key}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS * 2)
            count, _ = pipe.execute()
        except Exception as exc:  # redis.RedisError, OSError: any failure to count
            self._failed(exc)
            return self._fallback.hit(key, limit)
        if self._down_since is not None:
            log.warning("rate limit backend reachable again; shared limits restored")
            self._down_since = None
        return _decide(int(count), limit, now)

    def count(self, key: str) -> int:
        if self._down_since is not None and time.monotonic() < self._retry_at:
            return self._fallback.count(key)
        window = int(time.time()) // WINDOW_SECONDS
        try:
            value = self._redis.get(f"{self._prefix}{key}:{window}")
        except Exception as exc:
            self._failed(exc)
            return self._fallback.count(key)
        return int(value or 0)

    def _failed(self, exc: Exception) -> None:
        self._on_error()
        with self._lock:
            first = self._down_since is None
            if first:
                self._down_since = time.monotonic()
            retry = RETRY_SECONDS if self._retry_seconds is None else self._retry_seconds
            self._retry_at = time.monotonic() + retry
        if first:
            log.warning(
                "rate limit backend unreachable (%s); counting in this process's memory "
                "until it answers",
                exc,
            )

    def health(self) -> str:
        try:
            self._redis.ping()
        except Exception as exc:
            return f"unreachable ({type(exc).__name__}); limits are counted per process"
        return "ok"


def build_rate_limiter(backend: str, on_error: Callable[[], None] = lambda: None) -> RateLimiter:
    if backend == "memory":
        return MemoryRateLimiter()
    if backend.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter(backend, on_error=on_error)
    raise ValueError(f"unknown rate limit backend {backend!r}")
