"""Polling, listing, cancelling, output metadata and audio links, over real HTTP."""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest

from songforge.audio.mp3_frames import read_mp3_info
from songforge.services.billing import ledger_for_task
from tests.api.test_create import SEED_BODY, assert_error, balance
from tests.conftest import LiveServer
from tests.fakes import FailingEngine, gated_tone_engine

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
TASK_FIELDS = {
    "task_id",
    "model",
    "status",
    "stage",
    "progress",
    "queue_position",
    "eta_seconds",
    "created_at",
    "started_at",
    "finished_at",
    "input",
    "output",
    "credits",
    "error",
}


def create(server: LiveServer, body: dict[str, Any] | None = None, key: str | None = None) -> str:
    with server.client(key) as client:
        response = client.post("/api/v1/audio/music", json=body or SEED_BODY)
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


def test_completed_task_reports_everything_truthfully(live_server: LiveServer) -> None:
    task_id = create(live_server)
    done = live_server.wait_for(task_id)
    assert set(done) >= TASK_FIELDS
    assert done["status"] == "completed" and done["stage"] == "done" and done["progress"] == 100
    for moment in ("created_at", "started_at", "finished_at"):
        assert ISO_UTC.match(done[moment]), done[moment]
    assert done["input"] == {**SEED_BODY, "seed": done["input"]["seed"], "duration": None}
    assert done["credits"] == {"price": 30, "held": 0, "charged": 30, "refunded": 0}
    assert done["error"] is None and done["queue_position"] is None
    output = done["output"]
    assert output["format"] == "mp3"
    assert output["engine"] == live_server.engines["minimax-music"].name
    assert output["sample_rate"] == 44100 and output["bitrate"] == 256000
    assert output["bitrate_mode"] == "cbr" and output["channels"] == 2
    assert ISO_UTC.match(output["expires_at"])
    with live_server.client() as client:
        audio = client.get(output["audio_url"])
    assert audio.status_code == 200
    assert len(audio.content) == output["size_bytes"]
    assert hashlib.sha256(audio.content).hexdigest() == output["sha256"]
    info = read_mp3_info(audio.content)
    assert info.sample_rate == 44100 and info.bitrates_kbps == {256}
    assert abs(info.duration_seconds - output["duration_seconds"]) < 0.2
    with live_server.db.read() as conn:
        kinds = [entry.kind for entry in ledger_for_task(conn, task_id)]
    assert kinds == ["hold", "charge"]
    assert balance(live_server, live_server.account_id) == (970, 0)


EXPECTED_ENCODING = {
    (32000, 16000): (32000, "cbr"),
    (32000, 44100): (32000, "cbr"),
    (60000, 24000): (None, "abr"),
    (60000, 44100): (None, "abr"),
    (64000, 32000): (64000, "cbr"),
    (128000, 24000): (128000, "cbr"),
    (256000, 16000): (160000, "cbr"),
    (256000, 24000): (160000, "cbr"),
    (256000, 32000): (256000, "cbr"),
    (256000, 44100): (256000, "cbr"),
}


@pytest.mark.parametrize(("bitrate", "sample_rate"), sorted(EXPECTED_ENCODING))
def test_mp3_rules_hold_end_to_end(
    sqlite_server: LiveServer, bitrate: int, sample_rate: int
) -> None:
    body = {**SEED_BODY, "bitrate": bitrate, "sample_rate": sample_rate}
    done = sqlite_server.wait_for(create(sqlite_server, body))
    output = done["output"]
    expected_bitrate, mode = EXPECTED_ENCODING[(bitrate, sample_rate)]
    assert output["sample_rate"] == sample_rate
    assert output["bitrate_mode"] == mode
    with sqlite_server.client() as client:
        info = read_mp3_info(client.get(output["audio_url"]).content)
    assert info.sample_rate == sample_rate
    if mode == "cbr":
        assert output["bitrate"] == expected_bitrate
        assert info.bitrates_kbps == {expected_bitrate // 1000}
    else:
        assert len(info.bitrates_kbps) > 1  # really variable
        assert 16000 <= output["bitrate"] <= 80000


def test_queue_position_and_eta_while_waiting(live_server: LiveServer) -> None:
    # On both backends: a queued poll is read on the event loop (Database.read_by_key)
    # and its position and ETA come from caches or, cold, from one more read.
    engine = gated_tone_engine()
    server = live_server
    server.stop_workers()
    server.engines = {"minimax-music": engine}
    server.start_worker()
    running = create(server)
    deadline = time.monotonic() + 10
    with server.client() as client:
        while client.get(f"/api/v1/tasks/{running}").json()["data"]["stage"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second, third = create(server), create(server)
        views = [client.get(f"/api/v1/tasks/{t}").json()["data"] for t in (running, second, third)]
        # Queued after the queue's snapshot was taken: counted past it.
        fourth = create(server)
        fourth_view = client.get(f"/api/v1/tasks/{fourth}").json()["data"]
    assert views[0]["stage"] == "generating" and views[0]["queue_position"] is None
    assert [v["queue_position"] for v in views[1:]] == [1, 2]
    assert fourth_view["queue_position"] == 3
    assert all(v["stage"] == "queued" and v["status"] == "IN_PROGRESS" for v in views[1:])
    etas = [v["eta_seconds"] for v in views]
    assert all(isinstance(e, int) and e >= 1 for e in etas)
    assert etas[1] <= etas[2]
    engine.gate.set()  # type: ignore[union-attr]
    for task_id in (running, second, third, fourth):
        assert server.wait_for(task_id)["status"] == "completed"


def test_cancel_queued_task_refunds_and_is_final(live_server: LiveServer) -> None:
    live_server.stop_workers()
    live_server.engines = {"minimax-music": gated_tone_engine()}
    live_server.start_worker()
    blocker = create(live_server)
    queued = create(live_server)
    with live_server.client() as client:
        canceled = client.post(f"/api/v1/tasks/{queued}/cancel")
        assert canceled.status_code == 200, canceled.text
        view = canceled.json()["data"]
        assert view["status"] == "failed"
        assert view["error"]["type"] == "canceled"
        assert view["credits"] == {"price": 30, "held": 0, "charged": 0, "refunded": 30}
        again = client.post(f"/api/v1/tasks/{queued}/cancel")
        assert_error(again, 400, "invalid_request")
    live_server.engines["minimax-music"].gate.set()  # type: ignore[attr-defined]
    assert live_server.wait_for(blocker)["status"] == "completed"
    assert balance(live_server, live_server.account_id) == (970, 0)
    with live_server.db.read() as conn:
        assert [e.kind for e in ledger_for_task(conn, queued)] == ["hold", "release"]


def test_cancel_running_task_stops_it_without_charge(sqlite_server: LiveServer) -> None:
    server = sqlite_server
    engine = gated_tone_engine()
    server.stop_workers()
    server.engines = {"minimax-music": engine}
    server.start_worker()
    task_id = create(server)
    with server.client() as client:
        deadline = time.monotonic() + 10
        while client.get(f"/api/v1/tasks/{task_id}").json()["data"]["stage"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert client.post(f"/api/v1/tasks/{task_id}/cancel").status_code == 200
    engine.gate.set()  # type: ignore[union-attr]
    time.sleep(1.5)  # the worker notices at its next heartbeat and abandons
    final = server.wait_for(task_id)
    assert final["status"] == "failed" and final["output"] is None
    assert balance(server, server.account_id) == (1000, 0)
    with server.db.read() as conn:
        assert [e.kind for e in ledger_for_task(conn, task_id)] == ["hold", "release"]


def test_engine_failure_fails_the_task_and_refunds(server_factory: Any) -> None:
    server = server_factory(engines={"minimax-music": FailingEngine(retryable=False)})
    done = server.wait_for(create(server))
    assert done["status"] == "failed"
    assert done["error"]["type"] == "generation_error"
    assert done["error"]["code"] == 500 and done["error"]["message"]
    assert done["credits"]["refunded"] == 30 and done["credits"]["charged"] == 0
    assert balance(server, server.account_id) == (1000, 0)


def test_retryable_failure_is_retried_up_to_max_attempts(server_factory: Any) -> None:
    engine = FailingEngine(retryable=True)
    server = server_factory(engines={"minimax-music": engine}, max_attempts=3)
    done = server.wait_for(create(server))
    assert done["status"] == "failed" and engine.calls == 3
    assert balance(server, server.account_id) == (1000, 0)


def test_other_accounts_tasks_are_404(live_server: LiveServer) -> None:
    task_id = create(live_server)
    stranger = live_server.new_account()
    with live_server.client(stranger.api_key) as client:
        assert_error(client.get(f"/api/v1/tasks/{task_id}"), 404, "not_found")
        assert_error(client.post(f"/api/v1/tasks/{task_id}/cancel"), 404, "not_found")
        assert client.get("/api/v1/tasks").json()["data"]["items"] == []
        assert_error(client.get("/api/v1/tasks/tsk_doesnotexist"), 404, "not_found")


def test_list_is_newest_first_with_cursor_and_filters(live_server: LiveServer) -> None:
    ids = [create(live_server) for _ in range(5)]
    for task_id in ids:
        live_server.wait_for(task_id)
    with live_server.client() as client:
        first = client.get("/api/v1/tasks", params={"limit": 2}).json()["data"]
        second = client.get(
            "/api/v1/tasks", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()["data"]
        third = client.get(
            "/api/v1/tasks", params={"limit": 2, "cursor": second["next_cursor"]}
        ).json()["data"]
        completed = client.get("/api/v1/tasks", params={"status": "completed"}).json()["data"]
        failed = client.get("/api/v1/tasks", params={"status": "failed"}).json()["data"]
        assert_error(client.get("/api/v1/tasks", params={"status": "done"}), 400, "invalid_request")
        assert_error(client.get("/api/v1/tasks", params={"limit": 0}), 400, "invalid_request")
        assert_error(client.get("/api/v1/tasks", params={"limit": 101}), 400, "invalid_request")
        assert_error(client.get("/api/v1/tasks", params={"cursor": "@@"}), 400, "invalid_request")
    listed = [t["task_id"] for t in first["items"] + second["items"] + third["items"]]
    assert listed == list(reversed(ids))
    assert third["next_cursor"] is None
    assert len(completed["items"]) == 5 and failed["items"] == []


def test_models_account_health_ready_metrics(live_server: LiveServer) -> None:
    with live_server.client() as client:
        models = client.get("/api/v1/models").json()
        account = client.get("/api/v1/account").json()["data"]
        health = client.get("/healthz")
        ready = client.get("/readyz")
        metrics = client.get("/metrics")
    assert models["code"] == 200
    (model,) = models["data"]
    assert model["id"] == "minimax-music" and model["price"] == 30
    names = {p["name"] for p in model["parameters"]}
    assert {"model", "prompt", "lyrics", "bitrate", "sample_rate", "seed", "duration"} <= names
    assert account["balance"] == 1000 and account["available"] == 1000
    assert account["key"]["prefix"].startswith("aio_")
    assert health.status_code == 200 and health.headers["x-request-id"]
    assert ready.status_code == 200 and ready.json()["models"]["minimax-music"]["live_workers"] == 1
    assert "songforge_http_requests_total" in metrics.text
    assert "songforge_live_workers" in metrics.text


def test_readyz_is_503_without_workers(server_factory: Any) -> None:
    server = server_factory(start_workers=False)
    with server.client() as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "not_ready"


def test_audio_links_are_signed_and_expire(sqlite_server: LiveServer) -> None:
    done = sqlite_server.wait_for(create(sqlite_server))
    url = done["output"]["audio_url"]
    import httpx

    with httpx.Client() as anonymous:
        assert anonymous.get(url).status_code == 200  # the link is the permission
        tampered = re.sub(r"sig=[0-9a-f]+", "sig=" + "0" * 32, url)
        assert_error(anonymous.get(tampered), 404, "not_found")
        expired = re.sub(r"expires=\d+", "expires=1000", url)
        assert_error(anonymous.get(expired), 404, "not_found")
        other_task = url.replace(done["task_id"], "tsk_someoneelse")
        assert_error(anonymous.get(other_task), 404, "not_found")


def test_a_finished_tasks_answer_is_kept_per_host_and_only_for_its_owner(
    live_server: LiveServer,
) -> None:
    task_id = create(live_server)
    live_server.wait_for(task_id)
    with live_server.client() as client:
        first = client.get(f"/api/v1/tasks/{task_id}")
        again = client.get(f"/api/v1/tasks/{task_id}")
        other_host = client.get(f"/api/v1/tasks/{task_id}", headers={"Host": "songs.example"})
    # The kept answer is the rendered one, byte for byte, with fresh rate headers.
    assert again.content == first.content
    assert again.headers["X-RateLimit-Remaining"] != first.headers["X-RateLimit-Remaining"]
    # Links are built on the Host the caller used, never on another caller's.
    assert first.json()["data"]["output"]["audio_url"].startswith(live_server.url)
    assert other_host.json()["data"]["output"]["audio_url"].startswith("http://songs.example/")
    stranger = live_server.new_account()
    with live_server.client(stranger.api_key) as client:
        assert_error(client.get(f"/api/v1/tasks/{task_id}"), 404, "not_found")
