"""SIGTERM on real worker processes (and on `songforge serve`): the song in hand is
finished within the grace period, or handed back to the queue with its lease released
and its attempt not counted; the API finishes the requests it is answering."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import free_port
from tests.worker.process_rig import Rig as ProcessRig
from tests.worker.process_rig import wait_until


class Rig(ProcessRig):
    """Worker processes of a slow tone engine of this test's own."""

    def __init__(self, database_url: str, tmp_path: Path) -> None:
        super().__init__(
            database_url,
            tmp_path,
            SONGFORGE_SECRET_KEY="graceful-shutdown-test-secret-0123456789",
            SONGFORGE_LEASE_SECONDS="30",
        )
        # PostgreSQL's database lives for the whole session: a model of our own keeps
        # other tests' leftover tasks out of our workers' way.
        self.model = f"slow-tone-{uuid.uuid4().hex[:8]}"

    def catalog(self, delay: float) -> Path:
        path = self.tmp_path / f"catalog-{delay}.toml"
        path.write_text(
            f'[models.{self.model}]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
            f"options = {{ seconds = 1.0, delay = {delay} }}\n"
        )
        return path

    def worker(  # type: ignore[override]
        self, delay: float, grace: float
    ) -> subprocess.Popen[bytes]:
        return super().worker(
            self.catalog(delay), self.model, SONGFORGE_SHUTDOWN_GRACE_SECONDS=str(grace)
        )

    def new_task(self) -> str:  # type: ignore[override]
        return super().new_task(self.model)


@pytest.fixture
def rig(database_url: str, tmp_path: Path) -> Iterator[Rig]:
    """On SQLite and PostgreSQL (the hand-back is a backend-sensitive UPDATE)."""
    made = Rig(database_url, tmp_path)
    yield made
    made.close()


@pytest.fixture
def sqlite_rig(tmp_path: Path) -> Iterator[Rig]:
    """SQLite only: for the slower process tests whose SQL the others already cover."""
    made = Rig(f"sqlite:///{tmp_path / 'songforge.db'}", tmp_path)
    yield made
    made.close()


def terminate_and_time(process: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout)
    return time.monotonic() - started


def test_sigterm_lets_the_song_in_hand_finish(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    task_id = rig.new_task()
    worker = rig.worker(delay=2.0, grace=30)
    wait_until(lambda: rig.task(task_id).stage == "generating", 60, "the claim")
    terminate_and_time(worker, 30)
    assert worker.returncode == 0, rig.output()
    done = rig.task(task_id)
    assert (done.status, done.attempt, done.credits_charged) == ("completed", 1, 30), rig.output()
    assert rig.ledger(task_id) == ["hold", "charge"]
    # And it took no new work once told to stop.
    second = rig.new_task()
    time.sleep(0.5)
    assert rig.task(second).stage == "queued"


def test_sigterm_past_the_grace_hands_the_task_back(rig: Rig) -> None:
    task_id = rig.new_task()
    worker = rig.worker(delay=120.0, grace=1.0)
    wait_until(lambda: rig.task(task_id).stage == "generating", 60, "the claim")
    took = terminate_and_time(worker, 15)
    assert worker.returncode == 0, rig.output()
    assert took < 10, f"{took:.1f} s"
    back = rig.task(task_id)
    assert back.status == "IN_PROGRESS" and back.stage == "queued", rig.output()
    assert (back.attempt, back.lease_owner, back.lease_expires_at) == (0, None, None)
    assert back.credits_held == 30 and rig.ledger(task_id) == ["hold"]
    assert "handed back" in rig.output()

    # The next worker takes it as a first attempt; it is charged once.
    rig.worker(delay=0.0, grace=30)
    wait_until(lambda: rig.task(task_id).status != "IN_PROGRESS", 60, "the second worker")
    done = rig.task(task_id)
    assert (done.status, done.attempt, done.credits_charged) == ("completed", 1, 30), rig.output()
    assert rig.ledger(task_id) == ["hold", "charge"]
    assert rig.balance() == (70, 0)


@pytest.mark.slow
def test_a_second_sigterm_hands_back_at_once(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    task_id = rig.new_task()
    worker = rig.worker(delay=120.0, grace=120.0)
    wait_until(lambda: rig.task(task_id).stage == "generating", 60, "the claim")
    worker.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert worker.poll() is None  # still finishing the song
    took = terminate_and_time(worker, 15)
    assert took < 10, f"{took:.1f} s"
    back = rig.task(task_id)
    assert (back.stage, back.attempt, back.lease_owner) == ("queued", 0, None), rig.output()


def send_half_a_request(port: int, api_key: str, model: str) -> tuple[socket.socket, bytes]:
    body = json.dumps({"model": model, "prompt": "a slow song"}).encode()
    head = (
        f"POST /api/v1/audio/music HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(head + body[:10])
    return sock, body[10:]


def read_response(sock: socket.socket) -> tuple[int, Any]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_serve_drains_requests_in_flight_and_its_workers(sqlite_rig: Rig) -> None:
    rig = sqlite_rig
    port = free_port()
    serve = rig.start(
        ["serve", "--port", str(port), "--workers", "1"],
        SONGFORGE_CATALOG_PATH=str(rig.catalog(120.0)),
        SONGFORGE_SHUTDOWN_GRACE_SECONDS="2",
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 90, "serve and its worker")
    running = rig.new_task()
    wait_until(lambda: rig.task(running).stage == "generating", 60, "the claim")
    sock, rest = send_half_a_request(port, rig.api_key, rig.model)
    time.sleep(0.3)  # the request is in flight: headers read, body pending

    serve.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    with pytest.raises(httpx.ConnectError):  # no new connections once draining
        httpx.get(f"{base}/healthz", timeout=2)
    sock.sendall(rest)
    status, answer = read_response(sock)
    sock.close()
    assert status == 200, answer
    created = answer["data"]["task_id"]

    serve.wait(30)
    assert serve.returncode == 0, rig.output()
    # The worker child handed its song back; the task created while draining waits queued.
    back = rig.task(running)
    assert (back.stage, back.attempt, back.lease_owner) == ("queued", 0, None), rig.output()
    assert rig.task(created).stage == "queued"
