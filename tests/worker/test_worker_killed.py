"""A worker process killed with SIGKILL mid-task: another worker finishes the task,
and the account is charged exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.accounts import create_account, get_account
from songforge.services.billing import ledger_for_task
from songforge.services.orders import grant_credits
from songforge.services.task_records import load_task
from songforge.services.tasks import NewTask, create_task

ROOT = Path(__file__).resolve().parents[2]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "songforge.cli", "worker", "--models", "slow-tone"],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_until(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_killed_worker_task_is_retried_and_charged_once(database_url: str, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[models.slow-tone]\nengine = "tests.fakes:tone_engine"\nprice = 30\n'
        "options = { seconds = 1.0, delay = 3.0 }\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_DATABASE_URL": database_url,
        "SONGFORGE_DATA_DIR": str(tmp_path / "data"),
        "SONGFORGE_CATALOG_PATH": str(catalog),
        "SONGFORGE_LEASE_SECONDS": "2",
        "SONGFORGE_HEARTBEAT_SECONDS": "0.3",
        "SONGFORGE_REAPER_INTERVAL_SECONDS": "0.5",
        "SONGFORGE_POLL_INTERVAL_SECONDS": "0.1",
    }
    db = Database(database_url)
    upgrade_to_head(db)
    with db.write() as conn:
        account = create_account(conn)
        grant_credits(conn, account.id, 100, provider="operator")
    task_id = create_task(
        db,
        NewTask(
            account.id,
            None,
            "slow-tone",
            30,
            {
                "prompt": "x",
                "lyrics": "",
                "seed": 1,
                "bitrate": 128000,
                "sample_rate": 44100,
                "duration": None,
            },
            max_attempts=3,
        ),
        max_concurrent=10,
    ).task.id

    def task():  # type: ignore[no-untyped-def]
        with db.read() as conn:
            return load_task(conn, task_id)

    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    try:
        wait_until(lambda: task().stage == "generating", 30, "the first worker to claim")
        assert task().attempt == 1
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = start_worker(env, log)
        try:
            wait_until(lambda: task().status != "IN_PROGRESS", 60, "the second worker")
        finally:
            second.terminate()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    final = task()
    assert final.status == "completed", log.read_text()[-3000:]
    assert final.attempt == 2
    assert final.credits_charged == 30
    with db.read() as conn:
        assert [e.kind for e in ledger_for_task(conn, task_id)] == ["hold", "charge"]
        owner = get_account(conn, account.id)
    assert owner is not None and (owner.balance, owner.held) == (70, 0)
    db.dispose()
