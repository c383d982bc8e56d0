"""GET /metrics: the figures an operator alerts on (issue 10, point 5), over real HTTP."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from songforge.db.tables import tasks
from tests.conftest import LiveServer
from tests.fakes import gated_tone_engine
from tests.outage_servers import own_postgres

BODY = {"model": "minimax-music", "prompt": "calm piano", "seed": 9}


def samples(server: LiveServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with server.client() as client:
        text = client.get("/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: dict[Any, float], name: str, **labels: str) -> float | None:
    return found.get((name, tuple(sorted(labels.items()))))


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_queue_workers_outcomes_speed_and_holds(server_factory: Any, backend: str) -> None:
    # The figures cover the whole database, so PostgreSQL is a private server here
    # (the session's shared database holds other tests' tasks).
    if backend == "sqlite":
        check_figures(server_factory(start_workers=False))
        return
    with own_postgres() as pg:
        server: LiveServer = server_factory(pg.url, start_workers=False)
        try:
            check_figures(server)
        finally:
            server.stop_workers()


def check_figures(server: LiveServer) -> None:
    engine = gated_tone_engine()  # holds the first task at its gate
    server.engines = {"minimax-music": engine}
    server.start_worker()
    with server.client() as client:
        ids = [client.post("/api/v1/audio/music", json=BODY).json()["data"]["task_id"]]
        while client.get(f"/api/v1/tasks/{ids[0]}").json()["data"]["stage"] == "queued":
            time.sleep(0.02)
        ids.append(client.post("/api/v1/audio/music", json=BODY).json()["data"]["task_id"])
        canceled = client.post("/api/v1/audio/music", json=BODY).json()["data"]["task_id"]
        assert client.post(f"/api/v1/tasks/{canceled}/cancel").status_code == 200

    queued = samples(server)
    assert value(queued, "songforge_queue_depth", model="minimax-music") == 1
    age = value(queued, "songforge_queue_oldest_age_seconds", model="minimax-music")
    assert age is not None and age >= 0
    assert value(queued, "songforge_holds_outstanding") == 2
    assert value(queued, "songforge_credits_held") == 60
    assert (
        value(
            queued,
            "songforge_task_outcomes_last_hour",
            model="minimax-music",
            status="failed",
            error_type="canceled",
        )
        == 1
    )

    assert engine.gate is not None
    engine.gate.set()
    for task_id in ids:
        assert server.wait_for(task_id)["status"] == "completed"
    done = samples(server)
    assert value(done, "songforge_live_workers", model="minimax-music") == 1
    assert value(done, "songforge_queue_depth", model="minimax-music") is None
    assert value(done, "songforge_holds_outstanding") == 0
    assert value(done, "songforge_credits_held") == 0
    assert (
        value(
            done,
            "songforge_task_outcomes_last_hour",
            model="minimax-music",
            status="completed",
            error_type="",
        )
        == 2
    )
    speed = value(done, "songforge_engine_seconds_per_audio_second", model="minimax-music")
    assert speed is not None and speed > 0


def test_client_and_server_errors_are_counted(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        client.get("/api/v1/tasks?limit=%C2%B2")
    found = samples(sqlite_server)
    assert (
        value(
            found,
            "songforge_http_requests_total",
            method="GET",
            route="/api/v1/tasks",
            status="400",
        )
        == 1
    )


def test_a_stored_lone_surrogate_cannot_empty_the_scrape(live_server: LiveServer) -> None:
    # PostgreSQL's JSON operators parse the whole document and refuse a lone
    # surrogate escape: the figures must not depend on them.
    with live_server.client() as client:
        task_id = client.post("/api/v1/audio/music", json=BODY).json()["data"]["task_id"]
    assert live_server.wait_for(task_id)["status"] == "completed"
    with live_server.db.write() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.id == task_id)
            .values(status="failed", error={"type": "engine_error", "message": "bad \udfb5"})
        )
    found = samples(live_server)
    # ">=": on PostgreSQL the session's shared database holds other tests' tasks too.
    assert (value(found, "songforge_live_workers", model="minimax-music") or 0) >= 1
    outcome = value(
        found,
        "songforge_task_outcomes_last_hour",
        model="minimax-music",
        status="failed",
        error_type="engine_error",
    )
    assert (outcome or 0) >= 1
