"""SIGKILL of a relay worker in the middle of an upstream call: nothing is lost (the
task is relayed again by another worker) and the user is charged once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.accounts import create_account, get_account
from songforge.services.billing import ledger_for_task
from songforge.services.orders import grant_credits
from songforge.services.task_records import load_task
from songforge.services.tasks import NewTask, create_task
from tests.engines.remote.conftest import MINIMAX_KEY_ENV
from tests.fakes_upstreams.minimax import FakeMiniMax
from tests.worker.test_worker_killed import wait_until

ROOT = Path(__file__).resolve().parents[3]


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "songforge.cli", "worker", "--models", "minimax-music"],
            env=env,
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_killed_relay_worker_loses_nothing_and_charges_once(
    database_url: str, tmp_path: Path, fake_minimax: FakeMiniMax
) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[models.minimax-music]\nengine = "minimax-cloud"\nprice = 30\n'
        f'options = {{ base_url = "{fake_minimax.url}", api_key_env = "{MINIMAX_KEY_ENV}", '
        'upstream_model = "music-2.6", timeout_s = 30 }\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        MINIMAX_KEY_ENV: fake_minimax.api_key,
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
    task_input = {
        "prompt": "x",
        "lyrics": "la la la",
        "seed": 1,
        "bitrate": 128000,
        "sample_rate": 44100,
        "duration": None,
    }
    task_id = create_task(
        db,
        NewTask(account.id, None, "minimax-music", 30, task_input, max_attempts=3),
        max_concurrent=10,
    ).task.id

    def task():  # type: ignore[no-untyped-def]
        with db.read() as conn:
            return load_task(conn, task_id)

    # The first call hangs long enough to kill the worker in the middle of it.
    fake_minimax.generation.push("slow:20")
    log = tmp_path / "workers.log"
    first = start_worker(env, log)
    try:
        wait_until(lambda: fake_minimax.in_flight == 1, 60, "the first worker to call MiniMax")
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
    assert final.output is not None and final.output["engine"] == "minimax-cloud/music-2.6"
    assert len(fake_minimax.bodies) == 2  # relayed again, not lost
    with db.read() as conn:
        assert [e.kind for e in ledger_for_task(conn, task_id)] == ["hold", "charge"]
        owner = get_account(conn, account.id)
    assert owner is not None and (owner.balance, owner.held) == (70, 0)
    assert fake_minimax.api_key not in log.read_text()
    db.dispose()
