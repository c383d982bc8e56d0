"""The relay worker: many tasks in flight in one process, liveness that follows the
upstream, a circuit breaker, and a key that never shows."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from songforge.engines.base import EngineUnavailable
from songforge.engines.remote.minimax_cloud import MiniMaxCloudEngine
from tests.api.test_create import SEED_BODY, balance
from tests.engines.remote.conftest import MINIMAX_KEY_ENV, minimax_engine, minimax_options
from tests.fakes_upstreams.minimax import FakeMiniMax


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def create(server: Any, seed: int = 1) -> Any:
    with server.client() as client:
        return client.post("/api/v1/audio/music", json={**SEED_BODY, "seed": seed})


def test_one_worker_carries_many_upstream_tasks_at_once(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    engine = minimax_engine(fake_minimax, max_concurrency=12, timeout_s=30, deadline_s=60)
    server = server_factory(engines={"minimax-music": engine})
    # Each call is held until all twelve are in flight (at most 20 s): one by one,
    # the peak would stay at 1 however loaded the machine is.
    fake_minimax.generation.always = "gather:12"
    ids = [create(server, seed).json()["data"]["task_id"] for seed in range(12)]
    finals = [server.wait_for(task_id, timeout=90) for task_id in ids]
    assert [f["status"] for f in finals] == ["completed"] * 12
    # One worker thread, yet the upstream saw the songs together, not one by one.
    assert fake_minimax.peak_in_flight == 12
    assert balance(server, server.account_id) == (1000 - 12 * 30, 0)


def test_model_is_live_only_while_the_upstream_answers(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    assert create(server).status_code == 200
    fake_minimax.down = True
    wait_until(lambda: create(server, 2).status_code == 503, 15, "the model to go off-line")
    response = create(server, 3)
    assert response.json()["error"]["type"] == "model_unavailable"
    fake_minimax.down = False
    wait_until(lambda: create(server, 4).status_code == 200, 15, "the model to come back")


def test_a_refused_key_takes_the_model_offline_until_the_probe_passes(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    engine = minimax_engine(fake_minimax, probe_interval_s=60)
    server = server_factory(engines={"minimax-music": engine})
    fake_minimax.generation.push("code:1004")
    task = server.wait_for(create(server).json()["data"]["task_id"])
    assert task["error"]["type"] == "upstream_auth"
    assert engine.breaker.is_open
    wait_until(lambda: create(server, 2).status_code == 503, 15, "the model to go off-line")


def test_repeated_failures_open_the_circuit_and_a_probe_closes_it(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    engine = minimax_engine(fake_minimax, failure_threshold=2, max_retries=0, probe_interval_s=60)
    server = server_factory(engines={"minimax-music": engine})
    fake_minimax.generation.push("http500", "http500")
    for seed in (1, 2):
        task = server.wait_for(create(server, seed).json()["data"]["task_id"])
        assert task["error"]["type"] == "upstream_unavailable"
    assert engine.breaker.is_open
    wait_until(lambda: create(server, 3).status_code == 503, 15, "the model to go off-line")
    engine.options = engine.options.__class__(
        **{**engine.options.__dict__, "probe_interval_s": 0.2}
    )
    wait_until(lambda: not engine.breaker.is_open, 15, "a probe to close the circuit")
    accepted: list[Any] = []
    wait_until(
        lambda: accepted.append(create(server, 4)) or accepted[-1].status_code == 200,
        15,
        "the model to be listed again",
    )
    task = server.wait_for(accepted[-1].json()["data"]["task_id"])
    assert task["status"] == "completed"


def test_the_key_never_shows(
    server_factory: Any, fake_minimax: FakeMiniMax, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = minimax_engine(fake_minimax, max_retries=1, failure_threshold=1)
    assert fake_minimax.api_key not in repr(engine) and fake_minimax.api_key not in repr(
        engine.options
    )
    server = server_factory(engines={"minimax-music": engine})
    fake_minimax.generation.push("http500", "code:1004")
    task = server.wait_for(create(server).json()["data"]["task_id"])
    assert task["status"] == "failed"
    with server.client() as client:
        pages = [
            client.get(f"/api/v1/tasks/{task['task_id']}").text,
            client.get("/api/v1/models").text,
            client.get("/metrics").text,
        ]
    logged = "\n".join(record.getMessage() + str(record.args) for record in caplog.records)
    for text in (*pages, logged):
        assert fake_minimax.api_key not in text


def test_catalog_options_are_checked_without_a_network_call(
    fake_minimax: FakeMiniMax, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    with pytest.raises(EngineUnavailable, match="not in the catalog"):
        MiniMaxCloudEngine({**minimax_options(fake_minimax), "api_key": "sk-in-catalog"})
    monkeypatch.delenv(MINIMAX_KEY_ENV)
    with pytest.raises(EngineUnavailable, match="is not set"):
        minimax_engine(fake_minimax)
    key_file = tmp_path / "minimax.key"
    key_file.write_text(fake_minimax.api_key + "\n")
    options = minimax_options(fake_minimax)
    del options["api_key_env"]
    engine = MiniMaxCloudEngine({**options, "api_key_file": str(key_file)})
    assert engine.options.api_key is not None
    assert engine.options.api_key.reveal() == fake_minimax.api_key
    with pytest.raises(EngineUnavailable, match="base_url"):
        MiniMaxCloudEngine({**options, "api_key_file": str(key_file), "base_url": "ftp://x"})
    with pytest.raises(EngineUnavailable, match="unknown options"):
        MiniMaxCloudEngine({**options, "api_key_file": str(key_file), "max_concurency": 3})
