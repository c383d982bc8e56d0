"""POST /api/v1/audio/music: the contract of api.md, over real HTTP."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from songforge.db.tables import api_keys
from songforge.db.types import utcnow
from songforge.services.keys import revoke_key
from tests.conftest import LiveServer
from tests.fakes import gated_tone_engine

SEED_BODY = {
    "model": "minimax-music",
    "prompt": "An energetic electronic dance track with pulsing synths and driving bass",
    "lyrics": "Feel the beat, move your feet, let the music take you higher",
    "bitrate": 256000,
    "sample_rate": 44100,
}


def assert_error(response: Any, status: int, type: str, param: str | None = None) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == status
    assert error["type"] == type
    assert isinstance(error["message"], str) and error["message"]
    if param is not None:
        assert error.get("param") == param
    assert response.headers.get("x-request-id")


def balance(server: LiveServer, account_id: str) -> tuple[int, int]:
    with server.client() as client:
        del client
    from songforge.services.accounts import get_account

    with server.db.read() as conn:
        account = get_account(conn, account_id)
    assert account is not None
    return account.balance, account.held


def test_seed_request_answers_the_exact_envelope(live_server: LiveServer) -> None:
    with live_server.client() as client:
        response = client.post("/api/v1/audio/music", json=SEED_BODY)
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 200 and body["message"] == "success"
    assert set(body["data"]) == {"task_id", "status"}
    assert body["data"]["status"] == "IN_PROGRESS"
    assert len(body["data"]["task_id"]) >= 20
    assert response.headers["x-request-id"]
    assert response.headers["x-ratelimit-limit"]


def test_defaults_and_derived_seed_are_recorded(live_server: LiveServer) -> None:
    body = {"model": "minimax-music", "prompt": "  lofi beat  "}
    with live_server.client() as client:
        first = client.post("/api/v1/audio/music", json=body).json()["data"]["task_id"]
        second = client.post("/api/v1/audio/music", json=body).json()["data"]["task_id"]
        task = client.get(f"/api/v1/tasks/{first}").json()["data"]
        other = client.get(f"/api/v1/tasks/{second}").json()["data"]
    assert task["input"]["bitrate"] == 256000
    assert task["input"]["sample_rate"] == 44100
    assert task["input"]["prompt"] == "lofi beat"
    assert task["input"]["lyrics"] == ""
    assert isinstance(task["input"]["seed"], int)
    # The same request without a seed is the same song.
    assert task["input"]["seed"] == other["input"]["seed"]


BAD_BODIES = [
    ({"prompt": "x"}, "model"),
    ({"model": "minimax-music"}, "prompt"),
    ({"model": "minimax-music", "prompt": "   "}, "prompt"),
    ({"model": "minimax-music", "prompt": "x" * 2001}, "prompt"),
    ({"model": "minimax-music", "prompt": 5}, "prompt"),
    ({"model": "minimax-music", "prompt": "x", "lyrics": "y" * 3501}, "lyrics"),
    ({"model": "minimax-music", "prompt": "x", "lyrics": ["a"]}, "lyrics"),
    ({"model": "minimax-music", "prompt": "x", "lyrics": "[Refrain]\nla"}, "lyrics"),
    ({"model": "minimax-music", "prompt": "x", "bitrate": 100000}, "bitrate"),
    ({"model": "minimax-music", "prompt": "x", "bitrate": "256000"}, "bitrate"),
    ({"model": "minimax-music", "prompt": "x", "bitrate": True}, "bitrate"),
    ({"model": "minimax-music", "prompt": "x", "bitrate": 128000.0}, "bitrate"),
    ({"model": "minimax-music", "prompt": "x", "sample_rate": 48000}, "sample_rate"),
    ({"model": "minimax-music", "prompt": "x", "sample_rate": None}, "sample_rate"),
    ({"model": "minimax-music", "prompt": "x", "seed": -1}, "seed"),
    ({"model": "minimax-music", "prompt": "x", "seed": 2**32}, "seed"),
    ({"model": "minimax-music", "prompt": "x", "seed": 1.5}, "seed"),
    ({"model": "minimax-music", "prompt": "x", "duration": 1}, "duration"),
    ({"model": "minimax-music", "prompt": "x", "duration": 100000}, "duration"),
    ({"model": "minimax-music", "prompt": "x", "duration": "30"}, "duration"),
    ({"model": "minimax-music", "prompt": "x", "bitrat": 32000}, "bitrat"),
    ({"model": 7, "prompt": "x"}, "model"),
    ({"model": "no-such-model", "prompt": "x"}, "model"),
]


@pytest.mark.parametrize(("body", "param"), BAD_BODIES)
def test_invalid_bodies_are_rejected_and_cost_nothing(
    sqlite_server: LiveServer, body: dict[str, Any], param: str
) -> None:
    before = balance(sqlite_server, sqlite_server.account_id)
    with sqlite_server.client() as client:
        response = client.post("/api/v1/audio/music", json=body)
    assert_error(response, 400, "invalid_request", param)
    assert balance(sqlite_server, sqlite_server.account_id) == before


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"", b"[1, 2]", b'"just a string"', b"\xff\xfe", b"null"],
)
def test_malformed_json_is_invalid_request(sqlite_server: LiveServer, raw: bytes) -> None:
    with sqlite_server.client() as client:
        response = client.post(
            "/api/v1/audio/music", content=raw, headers={"Content-Type": "application/json"}
        )
    assert_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    "lyrics",
    [
        "[Intro]\n[verse]\nhello\n[PRE CHORUS]\nmore\n[Chorus 2]\nyes\n[build-up]\n[Outro]",
        "[Post Chorus]\n[Bridge]\n[Interlude]\n[Inst]\n[Solo]\n[Break]\n[Hook]\n[Transition]",
        "",
    ],
)
def test_documented_section_tags_are_accepted(sqlite_server: LiveServer, lyrics: str) -> None:
    with sqlite_server.client() as client:
        response = client.post(
            "/api/v1/audio/music", json={"model": "minimax-music", "prompt": "x", "lyrics": lyrics}
        )
    assert response.status_code == 200, response.text


def test_oversized_body_is_413(sqlite_server: LiveServer) -> None:
    body = {"model": "minimax-music", "prompt": "x", "lyrics": "a" * (70 * 1024)}
    with sqlite_server.client() as client:
        response = client.post("/api/v1/audio/music", json=body)
        chunked = client.post(
            "/api/v1/audio/music",
            content=iter([b'{"model": "minimax-music", "prompt": "', b"a" * 70000, b'"}']),
            headers={"Content-Type": "application/json"},
        )
    assert_error(response, 413, "invalid_request")
    assert_error(chunked, 413, "invalid_request")


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer aio_" + "x" * 43, "Bearer nope"],
)
def test_bad_credentials_are_401(sqlite_server: LiveServer, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    import httpx

    with httpx.Client(base_url=sqlite_server.url, headers=headers) as client:
        for response in (
            client.post("/api/v1/audio/music", json=SEED_BODY),
            client.get("/api/v1/tasks/whatever"),
            client.get("/api/v1/models"),
            client.get("/api/v1/account"),
        ):
            assert_error(response, 401, "authentication_error")


def test_revoked_and_expired_keys_are_401(sqlite_server: LiveServer) -> None:
    revoked = sqlite_server.new_account()
    expired = sqlite_server.new_account()
    with sqlite_server.db.write() as conn:
        assert revoke_key(conn, revoked.id, revoked.key_id)
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == expired.key_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    for account in (revoked, expired):
        with sqlite_server.client(account.api_key) as client:
            assert_error(client.get("/api/v1/account"), 401, "authentication_error")


def test_insufficient_credits_is_402_and_holds_nothing(live_server: LiveServer) -> None:
    poor = live_server.new_account(credits=29)
    with live_server.client(poor.api_key) as client:
        response = client.post("/api/v1/audio/music", json=SEED_BODY)
    assert_error(response, 402, "insufficient_credits")
    assert balance(live_server, poor.id) == (29, 0)


def test_model_allow_list_and_credit_cap_are_403(live_server: LiveServer) -> None:
    narrow = live_server.new_account(allowed_models=["ace-step-1.5"])
    capped = live_server.new_account(credit_cap=45)
    with live_server.client(narrow.api_key) as client:
        assert_error(
            client.post("/api/v1/audio/music", json=SEED_BODY), 403, "permission_denied", "model"
        )
    with live_server.client(capped.api_key) as client:
        assert client.post("/api/v1/audio/music", json=SEED_BODY).status_code == 200
        assert_error(client.post("/api/v1/audio/music", json=SEED_BODY), 403, "permission_denied")


def test_model_without_live_backend_is_503(sqlite_server: LiveServer) -> None:
    # ace-step-1.5 is in the built-in catalog but no worker serves it here.
    with sqlite_server.client() as client:
        response = client.post("/api/v1/audio/music", json={**SEED_BODY, "model": "ace-step-1.5"})
        models = client.get("/api/v1/models").json()["data"]
    assert_error(response, 503, "model_unavailable", "model")
    assert [m["id"] for m in models] == ["minimax-music"]


def test_unknown_routes_and_methods_use_the_envelope(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        assert_error(client.get("/api/v1/nothing-here"), 404, "not_found")
        assert_error(client.get("/api/v1/audio/music"), 405, "method_not_allowed")
        assert_error(client.delete("/api/v1/tasks/abc"), 405, "method_not_allowed")


def test_per_key_rate_limit_is_429_with_headers(server_factory: Any) -> None:
    server = server_factory(rate_limit_per_minute=3)
    with server.client() as client:
        answers = [client.get("/api/v1/account") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[0].headers["x-ratelimit-limit"] == "3"
    assert answers[2].headers["x-ratelimit-remaining"] == "0"
    assert_error(answers[3], 429, "rate_limit")
    assert int(answers[3].headers["retry-after"]) >= 1
    assert answers[3].headers["x-ratelimit-reset"]


def test_concurrent_task_limit_is_429(server_factory: Any) -> None:
    # The engine holds every task at its gate, so they all stay in progress.
    server = server_factory(max_concurrent_tasks=2, engines={"minimax-music": gated_tone_engine()})
    with server.client() as client:
        codes = [client.post("/api/v1/audio/music", json=SEED_BODY) for _ in range(3)]
    assert [c.status_code for c in codes[:2]] == [200, 200]
    assert_error(codes[2], 429, "rate_limit")
    assert codes[2].headers["retry-after"]


def test_idempotency_key_replays_without_a_second_charge(live_server: LiveServer) -> None:
    headers = {"Idempotency-Key": "order-42"}
    with live_server.client() as client:
        first = client.post("/api/v1/audio/music", json=SEED_BODY, headers=headers)
        again = client.post("/api/v1/audio/music", json=SEED_BODY, headers=headers)
        other = client.post(
            "/api/v1/audio/music", json={**SEED_BODY, "prompt": "different"}, headers=headers
        )
    assert first.status_code == 200 and again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["data"]["task_id"] == first.json()["data"]["task_id"]
    assert_error(other, 409, "idempotency_conflict")
    live_server.wait_for(first.json()["data"]["task_id"])
    assert balance(live_server, live_server.account_id) == (1000 - 30, 0)


def test_unexpected_errors_are_500_without_details(sqlite_server: LiveServer) -> None:
    # Break the database under the running app: the client must get the envelope.
    with sqlite_server.db.write() as conn:
        conn.exec_driver_sql("ALTER TABLE tasks RENAME TO tasks_gone")
    try:
        with sqlite_server.client() as client:
            response = client.get("/api/v1/tasks")
        assert_error(response, 500, "internal_error")
        assert "Traceback" not in response.text and "sqlite" not in response.text.lower()
        assert response.headers["x-request-id"] in response.json()["error"]["message"]
    finally:
        with sqlite_server.db.write() as conn:
            conn.exec_driver_sql("ALTER TABLE tasks_gone RENAME TO tasks")


def test_request_id_is_sent_once_and_echoes_a_sane_one(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        mine = client.get("/api/v1/tasks/nope", headers={"X-Request-Id": "trace-123"})
        ours = client.get("/api/v1/tasks/nope", headers={"X-Request-Id": "bad id\twith tab"})
    assert mine.headers.get_list("x-request-id") == ["trace-123"]
    assert len(ours.headers.get_list("x-request-id")) == 1
    assert ours.headers["x-request-id"].startswith("req_")


def test_a_held_write_lock_never_freezes_the_api(sqlite_server: LiveServer) -> None:
    # Another process (here: another connection) holds SQLite's write lock.
    import sqlite3
    import threading
    import time

    path = sqlite_server.db.engine.url.database
    assert path
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    outcome: dict[str, Any] = {}

    def create() -> None:
        with sqlite_server.client() as client:
            outcome["create"] = client.post("/api/v1/audio/music", json=SEED_BODY)

    thread = threading.Thread(target=create)
    try:
        thread.start()
        time.sleep(0.3)  # the create is now waiting for the lock, off the event loop
        started = time.monotonic()
        with sqlite_server.client() as client:
            assert client.get("/healthz", timeout=5).status_code == 200
            assert client.get("/api/v1/account", timeout=5).status_code == 200
        assert time.monotonic() - started < 2
        assert "create" not in outcome
    finally:
        time.sleep(0.5)
        blocker.execute("ROLLBACK")
        blocker.close()
    thread.join(30)
    assert outcome["create"].status_code == 200, outcome["create"].text
