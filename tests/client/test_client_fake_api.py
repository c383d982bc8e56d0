"""Both clients against an in-memory fake of the API (an httpx transport).

The fake speaks the contract's JSON; what is checked here is the clients' own
behaviour: retries on 429, the wait loop, streaming downloads. The real
server is exercised in test_client_e2e.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from songforge.client import AsyncClient, Client, SongforgeError, Task

AUDIO = b"ID3" + bytes(range(256)) * 40


class FakeApi:
    """Answers like songforge: a task that takes ``polls_to_finish`` polls."""

    def __init__(self, *, rate_limited: int = 0, polls_to_finish: int = 3) -> None:
        self.rate_limited = rate_limited
        self.polls_to_finish = polls_to_finish
        self.polls = 0
        self.requests: list[httpx.Request] = []

    def ok(self, data: Any, **headers: str) -> httpx.Response:
        body = {"code": 200, "message": "success", "data": data}
        return httpx.Response(200, json=body, headers={"X-Request-Id": "req_ok", **headers})

    def error(self, status: int, type_: str, message: str, **headers: str) -> httpx.Response:
        body = {"error": {"code": status, "message": message, "type": type_}}
        return httpx.Response(status, json=body, headers={"X-Request-Id": "req_err", **headers})

    def task(self) -> dict[str, Any]:
        if self.polls >= self.polls_to_finish:
            return {
                "task_id": "task_1",
                "status": "completed",
                "stage": "done",
                "progress": 100,
                "output": {
                    "audio_url": "/files/task_1.mp3?sig=s",
                    "sha256": hashlib.sha256(AUDIO).hexdigest(),
                    "size_bytes": len(AUDIO),
                },
            }
        return {
            "task_id": "task_1",
            "status": "IN_PROGRESS",
            "stage": "generating",
            "progress": 100 * self.polls // self.polls_to_finish,
        }

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != "Bearer aio_fake":
            return self.error(401, "authentication_error", "bad key")
        if self.rate_limited:
            self.rate_limited -= 1
            return self.error(429, "rate_limit", "slow down", **{"Retry-After": "0"})
        path = request.url.path
        if request.method == "POST" and path == "/api/v1/audio/music":
            return self.ok({"task_id": "task_1", "status": "IN_PROGRESS"})
        if path == "/api/v1/tasks/task_1":
            self.polls += 1
            return self.ok(self.task())
        if path == "/files/task_1.mp3":
            return httpx.Response(200, content=AUDIO)
        if path == "/files/corrupt.mp3":
            return httpx.Response(200, content=AUDIO[:-1])
        return self.error(404, "not_found", "no route")


def sync_client(api: FakeApi, **kwargs: Any) -> Client:
    return Client("http://api.test", "aio_fake", transport=httpx.MockTransport(api), **kwargs)


def async_client(api: FakeApi, **kwargs: Any) -> AsyncClient:
    return AsyncClient("http://api.test", "aio_fake", transport=httpx.MockTransport(api), **kwargs)


def test_create_wait_download(tmp_path: Path) -> None:
    api = FakeApi()
    seen: list[Task] = []
    with sync_client(api) as client:
        created = client.create_music("minimax-music", "lo-fi", bitrate=128000)
        task = client.wait(created, poll_interval=0.001, timeout=5, on_update=seen.append)
        result = client.download(task, tmp_path / "song.mp3")
    assert json.loads(api.requests[0].content) == {
        "model": "minimax-music",
        "prompt": "lo-fi",
        "bitrate": 128000,
    }
    assert [t.status for t in seen] == ["IN_PROGRESS", "IN_PROGRESS", "completed"]
    assert result.verified and (tmp_path / "song.mp3").read_bytes() == AUDIO


def test_rate_limited_calls_are_retried_after_retry_after() -> None:
    api = FakeApi(rate_limited=2)
    with sync_client(api) as client:
        assert client.create_music("m", "p").task_id == "task_1"
    assert len(api.requests) == 3


def test_rate_limit_is_raised_once_retries_are_spent() -> None:
    api = FakeApi(rate_limited=5)
    with sync_client(api, max_retries=1) as client, pytest.raises(SongforgeError) as info:
        client.create_music("m", "p")
    assert (info.value.status, info.value.type, info.value.retry_after) == (429, "rate_limit", 0)
    assert info.value.request_id == "req_err"
    assert len(api.requests) == 2


def test_wait_gives_up_at_its_timeout() -> None:
    api = FakeApi(polls_to_finish=10**6)
    with sync_client(api) as client, pytest.raises(SongforgeError) as info:
        client.wait("task_1", poll_interval=0.01, timeout=0.05)
    assert info.value.type == "timeout"


def test_a_corrupt_download_leaves_nothing_behind(tmp_path: Path) -> None:
    api = FakeApi(polls_to_finish=0)
    with sync_client(api) as client:
        task = client.get_task("task_1")
        assert task.output is not None
        corrupt = Task.from_json(
            {**task.raw, "output": {**task.output.raw, "audio_url": "/files/corrupt.mp3"}}
        )
        with pytest.raises(SongforgeError) as info:
            client.download(corrupt, tmp_path / "song.mp3")
    assert info.value.type == "checksum_mismatch"
    assert list(tmp_path.iterdir()) == []


def test_download_errors_use_the_envelope(tmp_path: Path) -> None:
    with sync_client(FakeApi()) as client, pytest.raises(SongforgeError) as info:
        client.download("/files/missing.mp3", tmp_path / "x.mp3")
    assert (info.value.status, info.value.type) == (404, "not_found")
    assert list(tmp_path.iterdir()) == []


def test_unreachable_server_is_a_connection_error() -> None:
    # A port just released by the OS: nothing listens on it.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", "aio_x", max_retries=0)
    with client, pytest.raises(SongforgeError) as info:
        client.get_account()
    assert info.value.status is None and info.value.type == "connection_error"


def test_async_client_behaves_the_same(tmp_path: Path) -> None:
    api = FakeApi(rate_limited=1)
    updates: list[str] = []

    async def record(task: Task) -> None:
        updates.append(task.status)

    async def scenario() -> None:
        async with async_client(api) as client:
            created = await client.create_music("m", "p", idempotency_key="k1")
            task = await client.wait(created, poll_interval=0.001, timeout=5, on_update=record)
            result = await client.download(task, tmp_path / "song.mp3")
            assert result.verified
            with pytest.raises(SongforgeError) as info:
                await client.get_task("nope")
            assert info.value.type == "not_found"

    asyncio.run(scenario())
    assert api.requests[1].headers["idempotency-key"] == "k1"
    assert updates[-1] == "completed"
    assert (tmp_path / "song.mp3").read_bytes() == AUDIO


def test_a_base_url_with_a_path_prefix_keeps_it() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        body = {"code": 200, "message": "success", "data": {"balance": 5, "held": 0}}
        return httpx.Response(200, json=body)

    client = Client("http://proxy.test/songforge/", "aio_k", transport=httpx.MockTransport(handler))
    with client:
        assert client.get_account().available == 5
    assert seen == ["/songforge/api/v1/account"]
