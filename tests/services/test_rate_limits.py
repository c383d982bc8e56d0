"""The rate limiters: in memory, and in Redis shared by replicas (on a redis-server
of the test's own), including Redis going away and coming back."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from songforge.services import rate_limits
from songforge.services.rate_limits import (
    WINDOW_SECONDS,
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    build_rate_limiter,
)
from tests.redis_server import RedisServer


@pytest.fixture(params=["memory", "redis"])
def limiter(request: pytest.FixtureRequest) -> RateLimiter:
    if request.param == "memory":
        return MemoryRateLimiter()
    server: RedisServer = request.getfixturevalue("redis_server")
    return RedisRateLimiter(server.url)


def test_counts_up_to_the_limit_then_refuses(limiter: RateLimiter) -> None:
    decisions = [limiter.hit("key_a", 3) for _ in range(5)]
    assert [d.allowed for d in decisions] == [True, True, True, False, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0, 0]
    assert all(d.limit == 3 and 0 < d.reset_seconds <= WINDOW_SECONDS for d in decisions)
    assert limiter.hit("key_b", 3).remaining == 2  # keys are counted apart


def test_a_new_window_starts_afresh(limiter: RateLimiter, monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in range(3):
        limiter.hit("key_a", 3)
    assert not limiter.hit("key_a", 3).allowed
    later = time.time() + WINDOW_SECONDS
    monkeypatch.setattr(rate_limits.time, "time", lambda: later)
    assert limiter.hit("key_a", 3).remaining == 2


def test_replicas_share_one_count(redis_server: RedisServer) -> None:
    replicas = [RedisRateLimiter(redis_server.url) for _ in range(2)]
    allowed: list[bool] = []
    lock = threading.Lock()

    def hammer(limiter: RedisRateLimiter) -> None:
        for _ in range(50):
            decision = limiter.hit("key_a", 120)
            with lock:
                allowed.append(decision.allowed)

    threads = [threading.Thread(target=hammer, args=(replicas[i % 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 hits over two replicas and four threads: exactly the limit got through.
    assert (allowed.count(True), allowed.count(False)) == (120, 80)
    (name,) = redis_server.client().keys("songforge:rl:key_a:*")
    assert int(redis_server.client().get(name) or 0) == 200
    assert 0 < redis_server.client().ttl(name) <= 2 * WINDOW_SECONDS  # counters never pile up


def test_a_custom_prefix_keeps_tenants_apart(redis_server: RedisServer) -> None:
    one = RedisRateLimiter(redis_server.url, prefix="one:")
    two = RedisRateLimiter(redis_server.url, prefix="two:")
    one.hit("key_a", 5)
    assert two.hit("key_a", 5).remaining == 4


def test_redis_outage_degrades_to_per_process_counting(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(redis_server.url, retry_seconds=0.3)
    shared = RedisRateLimiter(redis_server.url)
    limiter.hit("key_a", 5)
    redis_server.stop()
    started = time.monotonic()
    during = [limiter.hit("key_a", 5) for _ in range(6)]
    took = time.monotonic() - started
    assert limiter.degraded
    # Requests keep being answered, promptly, and the limit still holds per process.
    assert [d.allowed for d in during] == [True] * 5 + [False]
    assert took < 2.0, f"{took:.2f} s"

    redis_server.start()  # empty: a restarted Redis forgot the counts
    time.sleep(0.4)
    assert not limiter.degraded
    assert limiter.hit("key_a", 5).remaining == 4
    assert shared.hit("key_a", 5).remaining == 3  # shared again


def test_backend_names() -> None:
    assert isinstance(build_rate_limiter("memory"), MemoryRateLimiter)
    assert isinstance(build_rate_limiter("redis://127.0.0.1:1/0"), RedisRateLimiter)
    with pytest.raises(ValueError):
        build_rate_limiter("memcached://x")


def test_replicas_enforce_one_limit_over_http(
    server_factory: Any, redis_server: RedisServer
) -> None:
    first = server_factory(rate_limit_backend=redis_server.url, rate_limit_per_minute=5)
    db_url = first.settings.database_url
    second = server_factory(db_url, rate_limit_backend=redis_server.url, rate_limit_per_minute=5)
    statuses = []
    for replica in (first, second, first, second, first, second):
        with replica.client(first.api_key) as client:
            response = client.get("/api/v1/account")
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 200, 200, 429]
    assert response.json()["error"]["type"] == "rate_limit"
    assert response.headers["x-ratelimit-remaining"] == "0"
