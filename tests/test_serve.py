"""`songforge serve` as a user runs it: a subprocess that migrates, bootstraps, prints a
key and a curl, starts worker processes and generates over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]


def run_serve(tmp_path: Path, catalog: str | None) -> tuple[subprocess.Popen[str], str, Path]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_DATA_DIR": str(tmp_path / "data"),
        "SONGFORGE_PORT": str(port),
        "SONGFORGE_HEARTBEAT_SECONDS": "0.5",
    }
    if catalog is not None:
        path = tmp_path / "catalog.toml"
        path.write_text(catalog)
        env["SONGFORGE_CATALOG_PATH"] = str(path)
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "songforge.cli", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    return process, f"http://127.0.0.1:{port}", log


def wait_ready(url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server not ready:\n{log.read_text()[-4000:]}")


def generate_with_printed_curl(url: str, log: Path, timeout: float) -> dict[str, object]:
    text = log.read_text()
    key = re.search(r"Bearer (aio_[A-Za-z0-9_-]+)", text)
    body = re.search(r"-d '(\{.*?\})'", text, re.DOTALL)
    assert key and body, text
    headers = {"Authorization": f"Bearer {key.group(1)}"}
    created = httpx.post(
        f"{url}/api/v1/audio/music", json=json.loads(body.group(1)), headers=headers
    )
    assert created.status_code == 200, created.text
    task_id = created.json()["data"]["task_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = httpx.get(f"{url}/api/v1/tasks/{task_id}", headers=headers).json()["data"]
        if task["status"] != "IN_PROGRESS":
            assert task["status"] == "completed", task
            audio = httpx.get(task["output"]["audio_url"])
            assert audio.status_code == 200 and len(audio.content) == task["output"]["size_bytes"]
            return dict(task)
        time.sleep(0.2)
    raise AssertionError(f"song not finished in {timeout}s:\n{log.read_text()[-4000:]}")


def stop(process: subprocess.Popen[str], signum: int = signal.SIGINT) -> None:
    process.send_signal(signum)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()


def worker_pids(data_dir: Path) -> list[int]:
    engine = sa.create_engine(f"sqlite:///{data_dir / 'songforge.db'}")
    with engine.connect() as conn:
        pids = [int(pid) for (pid,) in conn.execute(sa.text("SELECT pid FROM workers"))]
    engine.dispose()
    return pids


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_bootstraps_and_generates_with_worker_processes(tmp_path: Path) -> None:
    catalog = (
        '[models.minimax-music]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
        'name = "MiniMax Music"\n'
    )
    process, url, log = run_serve(tmp_path, catalog)
    try:
        wait_ready(url, log, 60)
        task = generate_with_printed_curl(url, log, 60)
        assert task["output"]["engine"] == "test-tone/1"  # type: ignore[index]
        # The worker ran in a child process, not in the server's.
        workers = httpx.get(f"{url}/readyz").json()["models"]["minimax-music"]["live_workers"]
        assert workers == 1
    finally:
        stop(process, signal.SIGTERM)
    assert process.returncode is not None
    # Its worker processes go with it, whatever way it ended.
    pids = worker_pids(tmp_path / "data")
    assert pids and all(pid != process.pid for pid in pids)
    deadline = time.monotonic() + 15
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(pid) for pid in pids)


@pytest.mark.slow
def test_serve_out_of_the_box_makes_a_real_song(tmp_path: Path) -> None:
    process, url, log = run_serve(tmp_path, None)
    try:
        wait_ready(url, log, 120)
        task = generate_with_printed_curl(url, log, 300)
        assert str(task["output"]["engine"]).startswith("songforge-composer")  # type: ignore[index]
        assert task["output"]["duration_seconds"] > 10  # type: ignore[index]
    finally:
        stop(process)
