"""Per-key request rate limits in fixed one-minute windows.

In memory for one process; with a ``redis://`` backend every API replica
shares the same counters.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECONDS = 60
log = logging.getLogger("songforge.rate_limits")


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_seconds: int


class RateLimiter(Protocol):
    def hit(self, key: str, limit: int) -> RateDecision: ...


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


class RedisRateLimiter:
    """Counters in Redis, shared by every replica.

    When Redis cannot be reached the limiter degrades to per-process counting
    (each replica then enforces the limit on its own share) rather than failing
    the request: a rate limit is a guard, not a reason to refuse paying users.
    After a failure it waits ``retry_seconds`` before asking Redis again, so a
    dead Redis costs one connection timeout per interval, not one per request.
    """

    def __init__(
        self, url: str, *, prefix: str = "songforge:rl:", retry_seconds: float = 1.0
    ) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.5, health_check_interval=10
        )
        self._prefix = prefix
        self._retry_seconds = retry_seconds
        self._fallback = MemoryRateLimiter()
        self._down_until = 0.0

    @property
    def degraded(self) -> bool:
        """True while counting in this process because Redis failed."""
        return time.monotonic() < self._down_until

    def hit(self, key: str, limit: int) -> RateDecision:
        if self.degraded:
            return self._fallback.hit(key, limit)
        now = time.time()
        window = int(now) // WINDOW_SECONDS
        name = f"{self._prefix}{key}:{window}"
        try:
            pipe = self._redis.pipeline()
            pipe.incr(name)
            pipe.expire(name, WINDOW_SECONDS * 2)
            count, _ = pipe.execute()
        except Exception:
            log.warning(
                "rate limits: Redis unreachable; counting per process for %.0f s",
                self._retry_seconds,
                exc_info=True,
            )
            self._down_until = time.monotonic() + self._retry_seconds
            return self._fallback.hit(key, limit)
        return _decide(int(count), limit, now)


def build_rate_limiter(backend: str) -> RateLimiter:
    if backend == "memory":
        return MemoryRateLimiter()
    if backend.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter(backend)
    raise ValueError(f"unknown rate limit backend {backend!r}")
