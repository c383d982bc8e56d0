"""Dependency outages (issue 10, point 4), against real servers this test starts on its
own ports and stops: never the machine's shared PostgreSQL or Redis.

- Redis (shared rate limits) down: the API keeps answering, counting limits in
  each process's memory, with a warning, a metric and /readyz saying so.
- PostgreSQL down: the API answers 503 in the envelope (no 500, no hang); when it
  returns, every task finishes and every credit is where it should be.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest

from songforge.services import rate_limits
from songforge.services.accounts import get_account
from tests.api.test_create import assert_error
from tests.conftest import LiveServer
from tests.outage_servers import own_postgres, own_redis

BODY = {"model": "minimax-music", "prompt": "calm piano", "seed": 5}


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_rate_limit_backend_down_fails_open_per_process_and_readyz_says_so(
    server_factory: Any,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_limits, "RETRY_SECONDS", 0.2)
    with own_redis() as redis_server:
        server: LiveServer = server_factory(
            database_url, rate_limit_backend=redis_server.url, rate_limit_per_minute=5
        )
        with server.client() as client:
            assert client.get("/api/v1/account").status_code == 200
            ready = client.get("/readyz").json()
            assert ready["rate_limit"] == "ok" and ready["degraded"] == []

            redis_server.stop()
            with caplog.at_level(logging.WARNING, logger="songforge.rate_limits"):
                answers = [client.get("/api/v1/account") for _ in range(12)]
            # Answered, not 500: and still limited, in this process's memory.
            assert {a.status_code for a in answers} == {200, 429}
            assert_error(answers[-1], 429, "rate_limit")
            assert "rate limit backend unreachable" in caplog.text
            metrics = client.get("/metrics").text
            assert _metric(metrics, "songforge_rate_limit_backend_errors_total") >= 1
            ready = client.get("/readyz")
            assert ready.status_code == 200  # fail open: still taking traffic
            assert ready.json()["rate_limit"].startswith("unreachable")
            assert ready.json()["degraded"] == ["rate_limit"]

            redis_server.start()
            time.sleep(0.3)
            ready = client.get("/readyz").json()
            assert ready["rate_limit"] == "ok" and ready["degraded"] == []


def test_postgres_down_answers_503_and_nothing_is_lost_when_it_returns(
    server_factory: Any,
) -> None:
    with own_postgres() as pg:
        server: LiveServer = server_factory(pg.url)
        price = server.context.catalog.get("minimax-music").price  # type: ignore[union-attr]
        with server.client() as client:
            before = [client.post("/api/v1/audio/music", json=BODY) for _ in range(3)]
            task_ids = [r.json()["data"]["task_id"] for r in before]

            pg.stop()
            # Every route that needs the database: 503 in the envelope, at once.
            timeout = httpx.Timeout(20)
            answers = [
                client.post("/api/v1/audio/music", json=BODY, timeout=timeout),
                client.get(f"/api/v1/tasks/{task_ids[0]}", timeout=timeout),
                client.get("/api/v1/tasks", timeout=timeout),
                client.get("/api/v1/account", timeout=timeout),
            ]
            for answer in answers:
                assert_error(answer, 503, "service_unavailable")
                assert answer.headers["retry-after"]
            ready = client.get("/readyz", timeout=timeout)
            assert ready.status_code == 503
            assert ready.json()["database"] == "unreachable"
            # The server errors are counted, and the API itself still answers.
            assert client.get("/healthz").status_code == 200
            time.sleep(2 * server.settings.heartbeat_seconds)

            pg.start()
            after = client.post("/api/v1/audio/music", json=BODY)
            assert after.status_code == 200, after.text
            task_ids.append(after.json()["data"]["task_id"])
        finished = [server.wait_for(task_id, timeout=60) for task_id in task_ids]
        assert [t["status"] for t in finished] == ["completed"] * len(task_ids)
        with server.db.read() as conn:
            account = get_account(conn, server.account_id)
        assert account is not None
        assert account.held == 0
        assert account.balance == 1000 - price * len(task_ids)
        assert all(t["credits"]["charged"] == price for t in finished)
        # While our PostgreSQL still runs (the fixture's teardown comes after it stops).
        server.stop_workers()
