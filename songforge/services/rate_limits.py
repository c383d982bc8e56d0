"""Per-key request rate limits in fixed one-minute windows.

In memory for one process; with a ``redis://`` backend every API replica
shares the same counters.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

WINDOW_SECONDS = 60


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
    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url)

    def hit(self, key: str, limit: int) -> RateDecision:
        now = time.time()
        window = int(now) // WINDOW_SECONDS
        name = f"songforge:rl:{key}:{window}"
        pipe = self._redis.pipeline()
        pipe.incr(name)
        pipe.expire(name, WINDOW_SECONDS * 2)
        count, _ = pipe.execute()
        return _decide(int(count), limit, now)


def build_rate_limiter(backend: str) -> RateLimiter:
    if backend == "memory":
        return MemoryRateLimiter()
    if backend.startswith(("redis://", "rediss://", "unix://")):
        return RedisRateLimiter(backend)
    raise ValueError(f"unknown rate limit backend {backend!r}")
