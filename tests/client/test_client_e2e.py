"""The client against the real service over real HTTP (tests/conftest.py's servers)."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import pytest

from songforge.client import AsyncClient, Client, SongforgeError, Task
from tests.conftest import LiveServer
from tests.fakes import gated_tone_engine

LYRICS = "[Verse]\nsalt on the window\n[Chorus]\nla la la"


def test_create_wait_download_and_verify(live_server: LiveServer, tmp_path: Path) -> None:
    updates: list[Task] = []
    with Client(live_server.url, live_server.api_key) as client:
        assert "minimax-music" in [m.id for m in client.list_models()]
        created = client.create_music(
            "minimax-music",
            "calm piano",
            lyrics=LYRICS,
            bitrate=128000,
            sample_rate=32000,
            seed=3,
        )
        assert created.status == "IN_PROGRESS" and not created.replayed
        task = client.wait(created, poll_interval=0.05, timeout=30, on_update=updates.append)
        result = client.download(task, tmp_path / "song.mp3")
        account = client.get_account()
        page = client.list_tasks(limit=5)

    assert task.is_completed and updates[-1] == task
    out = task.output
    assert out is not None
    assert (out.format, out.bitrate, out.sample_rate, out.bitrate_mode) == (
        "mp3",
        128000,
        32000,
        "cbr",
    )
    data = (tmp_path / "song.mp3").read_bytes()
    assert hashlib.sha256(data).hexdigest() == out.sha256 == result.sha256
    assert result.verified and len(data) == out.size_bytes == result.size_bytes
    assert task.input is not None and task.input.seed == 3 and task.input.lyrics == LYRICS
    assert task.credits is not None and task.credits.charged == task.credits.price
    assert account.balance == 1000 - task.credits.price and account.held == 0
    assert [t.task_id for t in page.tasks] == [task.task_id]


def test_api_errors_become_songforge_errors(sqlite_server: LiveServer) -> None:
    with Client(sqlite_server.url, sqlite_server.api_key, max_retries=0) as client:
        with pytest.raises(SongforgeError) as bad_value:
            client.create_music("minimax-music", "piano", bitrate=100000)
        with pytest.raises(SongforgeError) as missing:
            client.get_task("task_does_not_exist")
        with pytest.raises(SongforgeError) as unknown_model:
            client.create_music("no-such-model", "piano")
    with (
        Client(sqlite_server.url, "aio_" + "x" * 40) as client,
        pytest.raises(SongforgeError) as bad_key,
    ):
        client.get_account()
    poor = sqlite_server.new_account(credits=0)
    with (
        Client(sqlite_server.url, poor.api_key) as client,
        pytest.raises(SongforgeError) as no_credits,
    ):
        client.create_music("minimax-music", "piano")

    cases = [
        (bad_value, 400, "invalid_request", "bitrate"),
        (missing, 404, "not_found", None),
        (unknown_model, 400, "invalid_request", "model"),
        (bad_key, 401, "authentication_error", None),
        (no_credits, 402, "insufficient_credits", None),
    ]
    for info, status, type_, param in cases:
        error = info.value
        assert (error.status, error.type) == (status, type_), repr(error)
        if param is not None:
            assert error.param == param
        assert error.request_id and error.request_id.startswith("req_"), repr(error)
        assert "," not in error.request_id


def test_idempotent_replay_and_conflict(sqlite_server: LiveServer) -> None:
    key = "order-" + uuid.uuid4().hex
    with Client(sqlite_server.url, sqlite_server.api_key) as client:
        first = client.create_music("minimax-music", "piano", idempotency_key=key)
        again = client.create_music("minimax-music", "piano", idempotency_key=key)
        with pytest.raises(SongforgeError) as conflict:
            client.create_music("minimax-music", "guitar", idempotency_key=key)
    assert again.task_id == first.task_id and again.replayed and not first.replayed
    assert (conflict.value.status, conflict.value.type) == (409, "idempotency_conflict")


def test_cancel_rate_limit_and_wait_timeout(server_factory: object) -> None:
    engine = gated_tone_engine()
    server: LiveServer = server_factory(  # type: ignore[operator]
        engines={"minimax-music": engine}, max_concurrent_tasks=1
    )
    with Client(server.url, server.api_key, max_retries=0) as client:
        created = client.create_music("minimax-music", "piano")
        with pytest.raises(SongforgeError) as limited:
            client.create_music("minimax-music", "piano")
        with pytest.raises(SongforgeError) as timed_out:
            client.wait(created, poll_interval=0.02, timeout=0.2)
        canceled = client.cancel_task(created)
        final = client.wait(created, poll_interval=0.05, timeout=10)
    assert (limited.value.status, limited.value.type) == (429, "rate_limit")
    assert limited.value.retry_after is not None and limited.value.retry_after > 0
    assert timed_out.value.type == "timeout" and created.task_id in timed_out.value.message
    for task in (canceled, final):
        assert task.is_failed and task.error is not None and task.error.type == "canceled"


def test_async_client_against_the_service(sqlite_server: LiveServer, tmp_path: Path) -> None:
    seen: list[str] = []

    async def scenario() -> tuple[Task, str]:
        async with AsyncClient(sqlite_server.url, sqlite_server.api_key) as client:
            created = await client.create_music(
                "minimax-music", "lo-fi", bitrate=60000, sample_rate=24000
            )
            task = await client.wait(
                created,
                poll_interval=0.05,
                timeout=30,
                on_update=lambda t: seen.append(t.stage or ""),
            )
            result = await client.download(task, tmp_path / "async.mp3")
            with pytest.raises(SongforgeError) as missing:
                await client.get_task("task_nope")
            assert missing.value.type == "not_found" and missing.value.request_id
            return task, result.sha256

    task, sha = asyncio.run(scenario())
    assert task.output is not None and task.output.sha256 == sha
    assert (task.output.bitrate_mode, task.output.sample_rate) == ("abr", 24000)
    assert hashlib.sha256((tmp_path / "async.mp3").read_bytes()).hexdigest() == sha
    assert seen[-1] == "done"
