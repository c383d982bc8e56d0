"""Key revocation and credit changes reach every API replica at once: two replicas
over real HTTP on one database, told about revocations through a redis-server of
the test's own, and falling back to a one-second cache while Redis is away."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from songforge.services.caches import KeyCache
from songforge.services.keys import ApiKey, revoke_key
from songforge.services.orders import grant_credits
from tests.conftest import LiveServer
from tests.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def status(server: LiveServer, api_key: str) -> int:
    with server.client(api_key) as client:
        return client.get("/api/v1/account").status_code


def wait_until(predicate: Callable[[], bool], timeout: float) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


def two_replicas(server_factory: Any, redis: RedisServer) -> tuple[LiveServer, LiveServer]:
    first = server_factory(redis_url=redis.url, start_workers=False)
    second = server_factory(first.settings.database_url, redis_url=redis.url, start_workers=False)
    for replica in (first, second):
        wait_until(lambda r=replica: r.context.invalidation.listening, 10)
    return first, second


def test_revocation_reaches_the_other_replica_at_once(
    server_factory: Any, redis_server: RedisServer
) -> None:
    first, second = two_replicas(server_factory, redis_server)
    account = first.new_account()
    assert status(first, account.api_key) == status(second, account.api_key) == 200
    # Both replicas now hold the key in their caches (kept 15 s while notified).
    with first.db.write() as conn:
        assert revoke_key(conn, account.id, account.key_id)
    first.context.key_revoked(account.key_id)  # what the dashboard's revoke does
    took = wait_until(lambda: status(second, account.api_key) == 401, 0.5)
    assert status(first, account.api_key) == 401
    assert took < 0.5


def test_the_cli_revocation_is_heard_too(server_factory: Any, redis_server: RedisServer) -> None:
    first, second = two_replicas(server_factory, redis_server)
    account = first.new_account()
    assert status(second, account.api_key) == 200
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_DATABASE_URL": first.settings.database_url,
        "SONGFORGE_DATA_DIR": str(first.settings.data_dir),
        "SONGFORGE_REDIS_URL": redis_server.url,
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "songforge.cli",
            "keys",
            "revoke",
            "--account",
            account.id,
            account.key_id,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # The CLI needed seconds to start; the replicas' 15 s cache must not matter.
    wait_until(lambda: status(second, account.api_key) == 401, 0.5)
    assert status(first, account.api_key) == 401


def test_without_redis_the_cache_lasts_one_second(
    server_factory: Any, redis_server: RedisServer
) -> None:
    first, second = two_replicas(server_factory, redis_server)
    account = first.new_account()
    redis_server.stop()
    wait_until(lambda: not second.context.invalidation.listening, 10)
    assert status(second, account.api_key) == 200
    with first.db.write() as conn:
        revoke_key(conn, account.id, account.key_id)
    first.context.key_revoked(account.key_id)  # the publish fails, quietly
    assert status(first, account.api_key) == 401
    took = wait_until(lambda: status(second, account.api_key) == 401, 3)
    assert took < 1.5

    # Redis back: the replicas subscribe again and forget what they may have missed.
    other = first.new_account()
    assert status(second, other.api_key) == 200
    redis_server.start()
    wait_until(lambda: second.context.invalidation.listening, 15)
    with first.db.write() as conn:
        revoke_key(conn, other.id, other.key_id)
    first.context.key_revoked(other.key_id)
    wait_until(lambda: status(second, other.api_key) == 401, 0.5)


def test_credit_changes_are_seen_by_every_replica_at_once(
    server_factory: Any, redis_server: RedisServer
) -> None:
    first, second = two_replicas(server_factory, redis_server)
    first.start_worker()
    account = first.new_account(credits=0)
    with second.client(account.api_key) as client:
        body = {"model": "minimax-music", "prompt": "a short tune"}
        assert client.post("/api/v1/audio/music", json=body).status_code == 402
        with first.db.write() as conn:  # a top-up, made through any replica
            grant_credits(conn, account.id, 30, provider="operator")
        assert client.get("/api/v1/account").json()["data"]["available"] == 30
        assert client.post("/api/v1/audio/music", json=body).status_code == 200
        assert client.get("/api/v1/account").json()["data"]["available"] == 0


def test_a_key_read_before_a_revocation_is_not_cached_after_it() -> None:
    cache = KeyCache()
    key = ApiKey.__new__(ApiKey)
    object.__setattr__(key, "id", "key_1")
    generation = cache.generation  # a request starts reading key_1 from the database
    cache.forget("key_1")  # meanwhile the revocation arrives
    cache.put("hash", key, generation)  # the (stale) read comes back
    assert cache.get("hash") is None
    cache.put("hash", key, cache.generation)
    assert cache.get("hash") is key
