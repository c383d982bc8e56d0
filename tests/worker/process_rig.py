"""Real worker processes against a real database, for the tests that kill or stop
them (SIGKILL, SIGTERM): one funded account, tasks created on demand, every
process's output in one log, and the task/ledger/balance reads the tests assert."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.accounts import create_account, get_account
from songforge.services.billing import ledger_for_task
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits
from songforge.services.task_records import TaskRecord, load_task
from songforge.services.tasks import NewTask, create_task

ROOT = Path(__file__).resolve().parents[2]
TASK_INPUT: dict[str, Any] = {
    "prompt": "x",
    "lyrics": "",
    "seed": 1,
    "bitrate": 128000,
    "sample_rate": 44100,
    "duration": None,
}


def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Rig:
    """A database with one funded account (100 credits), and processes started on demand."""

    def __init__(self, database_url: str, tmp_path: Path, **env: str) -> None:
        self.tmp_path = tmp_path
        self.db = Database(database_url)
        upgrade_to_head(self.db)
        with self.db.write() as conn:
            self.account = create_account(conn)
            grant_credits(conn, self.account.id, 100, provider="operator")
            self.api_key = create_key(conn, self.account.id).secret
        self.log = tmp_path / "processes.log"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "SONGFORGE_DATABASE_URL": database_url,
            "SONGFORGE_DATA_DIR": str(tmp_path / "data"),
            "SONGFORGE_SECRET_KEY": "worker-process-test-secret-0123456789",
            "SONGFORGE_HEARTBEAT_SECONDS": "0.3",
            "SONGFORGE_POLL_INTERVAL_SECONDS": "0.1",
            **env,
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], **env: str) -> subprocess.Popen[bytes]:
        """``python -m songforge.cli ARGS`` with the rig's environment (plus ``env``)."""
        with self.log.open("ab") as output:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                [sys.executable, "-m", "songforge.cli", *args],
                env={**self.env, **env},
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def worker(self, catalog: Path, model: str, **env: str) -> subprocess.Popen[bytes]:
        return self.start(["worker", "--models", model], SONGFORGE_CATALOG_PATH=str(catalog), **env)

    def new_task(self, model: str, **task_input: Any) -> str:
        return create_task(
            self.db,
            NewTask(self.account.id, None, model, 30, {**TASK_INPUT, **task_input}, max_attempts=3),
            max_concurrent=10,
        ).task.id

    def task(self, task_id: str) -> TaskRecord:
        with self.db.read() as conn:
            found = load_task(conn, task_id)
        assert found is not None
        return found

    def ledger(self, task_id: str) -> list[str]:
        with self.db.read() as conn:
            return [entry.kind for entry in ledger_for_task(conn, task_id)]

    def balance(self) -> tuple[int, int]:
        with self.db.read() as conn:
            account = get_account(conn, self.account.id)
        assert account is not None
        return account.balance, account.held

    def output(self) -> str:
        return self.log.read_text()[-4000:]

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
        self.db.dispose()
