"""A rehearsal of a multi-machine deployment: 2 API replicas and 3 workers, each a
process with its own data directory, on PostgreSQL, a Redis and an S3 server of the
test's own. Clients spread creates over both replicas (retrying on the other one,
with the same Idempotency-Key, when a replica dies under them) while the test
SIGKILLs an API replica and a worker and restarts Redis. Afterwards: no task lost or
duplicated, every song charged exactly once, balances exact, and every song
downloadable from either replica."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import tasks
from songforge.services.accounts import create_account, get_account
from songforge.services.billing import ledger_for_task
from songforge.services.keys import create_key
from songforge.services.orders import grant_credits
from tests.conftest import free_port
from tests.redis_server import RedisServer
from tests.s3_server import S3_ENV, S3Server
from tests.worker.test_worker_killed import wait_until

ROOT = Path(__file__).resolve().parents[2]
PRICE = 30
CREDITS = 100_000


class Fleet:
    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.log = tmp_path / "fleet.log"
        self.apis: dict[int, tuple[int, subprocess.Popen[bytes]]] = {}
        self.workers: dict[int, subprocess.Popen[bytes]] = {}

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        data_dir = self.tmp_path / name
        with self.log.open("ab") as output:
            return subprocess.Popen(
                [sys.executable, "-m", "songforge.cli", *args],
                env={**self.env, "SONGFORGE_DATA_DIR": str(data_dir)},
                cwd=ROOT,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def start_api(self, index: int, port: int | None = None) -> None:
        port = port or free_port()
        process = self._start(f"api-{index}", ["serve", "--port", str(port), "--workers", "0"])
        self.apis[index] = (port, process)

    def start_worker(self, index: int, model: str) -> None:
        self.workers[index] = self._start(f"worker-{index}", ["worker", "--models", model])

    def url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.apis[index][0]}"

    def api_up(self, index: int) -> bool:
        try:
            return httpx.get(f"{self.url(index)}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop_all(self) -> None:
        processes = [p for _, p in self.apis.values()] + list(self.workers.values())
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def phase(started: float, what: str) -> None:
    print(f"[{time.monotonic() - started:6.1f} s] {what}", flush=True)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.timeout(900)
def test_two_replicas_three_workers_survive_kills_and_a_redis_restart(
    postgres_url: str, tmp_path: Path, s3_server: S3Server
) -> None:
    redis = RedisServer(free_port(), tmp_path / "redis")
    redis.start()
    bucket = s3_server.new_bucket()
    model = f"tone-{uuid.uuid4().hex[:8]}"  # the session's database holds other tests' tasks
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        f'[models.{model}]\nengine = "tests.fakes:tone_engine"\nprice = {PRICE}\n'
        "options = { seconds = 1.0, delay = 0.6 }\n"
    )
    env = {
        **os.environ,
        **S3_ENV,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_DATABASE_URL": postgres_url,
        "SONGFORGE_SECRET_KEY": "rehearsal-secret-" + uuid.uuid4().hex,
        "SONGFORGE_CATALOG_PATH": str(catalog),
        "SONGFORGE_STORAGE_URL": f"s3://{bucket}/songs",
        "SONGFORGE_S3_ENDPOINT_URL": s3_server.endpoint,
        "SONGFORGE_RATE_LIMIT_BACKEND": redis.url,
        "SONGFORGE_RATE_LIMIT_PER_MINUTE": "100000",
        "SONGFORGE_MAX_CONCURRENT_TASKS": "100000",
        "SONGFORGE_LEASE_SECONDS": "3",
        "SONGFORGE_HEARTBEAT_SECONDS": "0.5",
        "SONGFORGE_REAPER_INTERVAL_SECONDS": "0.5",
        "SONGFORGE_POLL_INTERVAL_SECONDS": "0.1",
        "SONGFORGE_SHUTDOWN_GRACE_SECONDS": "10",
    }
    db = Database(postgres_url)
    upgrade_to_head(db)
    accounts: list[tuple[str, str]] = []
    with db.write() as conn:
        for _ in range(4):
            account = create_account(conn)
            grant_credits(conn, account.id, CREDITS, provider="operator")
            accounts.append((account.id, create_key(conn, account.id).secret))

    fleet = Fleet(tmp_path, env)
    try:
        for index in (0, 1):
            fleet.start_api(index)
        for index in (0, 1, 2):
            fleet.start_worker(index, model)
        started = time.monotonic()
        wait_until(lambda: fleet.api_up(0) and fleet.api_up(1), 120, "both API replicas")
        phase(started, "2 API replicas up, 3 workers starting; load begins")

        accepted: dict[str, str] = {}  # task id -> account id
        errors: list[str] = []
        lock = threading.Lock()
        stop_load = threading.Event()

        def client_loop(number: int) -> None:
            account_id, api_key = accounts[number % len(accounts)]
            headers = {"Authorization": f"Bearer {api_key}"}
            body = {"model": model, "prompt": "a short test tune"}
            sent = 0
            http = httpx.Client(timeout=10)
            while not stop_load.is_set():
                idempotency = f"rehearsal-{number}-{sent}"
                sent += 1
                for attempt in range(40):  # replicas come and go: try the other one
                    replica = (number + sent + attempt) % 2
                    try:
                        response = http.post(
                            f"{fleet.url(replica)}/api/v1/audio/music",
                            json=body,
                            headers={**headers, "Idempotency-Key": idempotency},
                        )
                    except httpx.HTTPError:
                        time.sleep(0.1)
                        continue
                    if response.status_code == 200:
                        with lock:
                            accepted[response.json()["data"]["task_id"]] = account_id
                        break
                    if response.status_code >= 500:
                        time.sleep(0.1)
                        continue
                    with lock:
                        errors.append(f"{response.status_code} {response.text}")
                    break
                else:
                    with lock:
                        errors.append(f"request {idempotency} never got through")
                time.sleep(1.0)
            http.close()

        clients = [threading.Thread(target=client_loop, args=(n,)) for n in range(4)]
        for client in clients:
            client.start()

        time.sleep(3)
        phase(started, f"{len(accepted)} accepted; SIGKILL API replica 0 and worker 1")
        port, api = fleet.apis[0]
        api.send_signal(signal.SIGKILL)  # an API replica dies mid-load
        api.wait(10)
        fleet.workers[1].send_signal(signal.SIGKILL)  # and a worker, mid-song
        fleet.workers[1].wait(10)
        time.sleep(2)
        redis.stop()  # Redis restarts (empty)
        time.sleep(1)
        redis.start()
        fleet.start_api(0, port)  # the machine comes back
        fleet.start_worker(1, model)
        wait_until(lambda: fleet.api_up(0), 120, "the restarted replica")
        phase(started, f"{len(accepted)} accepted; replica 0 back, Redis restarted")
        time.sleep(3)
        stop_load.set()
        for client in clients:
            client.join(120)
        phase(started, f"load stopped: {len(accepted)} accepted")
        assert not errors, errors[:5]
        assert len(accepted) >= 20, len(accepted)

        def all_finished() -> bool:
            with db.read() as conn:
                rows = conn.execute(select(tasks.c.status).where(tasks.c.model == model)).all()
            return all(row.status != "IN_PROGRESS" for row in rows)

        wait_until(all_finished, 300, "every task to finish")
        phase(started, "every task finished")

        with db.read() as conn:
            rows = conn.execute(select(tasks).where(tasks.c.model == model)).all()
            # 0 tasks lost, none made twice by a retried request.
            assert {row.id for row in rows} == set(accepted)
            assert {row.status for row in rows} == {"completed"}, [
                (row.id, row.status, row.error) for row in rows if row.status != "completed"
            ]
            # Every song charged once; every balance exact.
            for row in rows:
                kinds = [entry.kind for entry in ledger_for_task(conn, row.id)]
                assert kinds == ["hold", "charge"], (row.id, kinds)
            for account_id, _ in accounts:
                mine = sum(1 for owner in accepted.values() if owner == account_id)
                account = get_account(conn, account_id)
                assert account is not None
                assert (account.balance, account.held) == (CREDITS - PRICE * mine, 0)

        # Every song downloadable from either replica, byte for byte what was recorded.
        outputs: dict[str, Any] = {row.id: row.output for row in rows}
        with httpx.Client(timeout=10) as http:
            for task_id, owner in accepted.items():
                key = next(k for a, k in accounts if a == owner)
                for replica in (0, 1):
                    view = http.get(
                        f"{fleet.url(replica)}/api/v1/tasks/{task_id}",
                        headers={"Authorization": f"Bearer {key}"},
                    ).json()["data"]
                    audio = http.get(view["output"]["audio_url"])
                    assert audio.status_code == 200
                    digest = hashlib.sha256(audio.content).hexdigest()
                    assert digest == outputs[task_id]["sha256"]
        attempts = [row.attempt for row in rows]
        print(
            f"rehearsal: {len(accepted)} songs, attempts {sorted(set(attempts))}, "
            f"{sum(1 for a in attempts if a > 1)} retried after the worker was killed"
        )
    finally:
        fleet.stop_all()
        redis.stop()
        db.dispose()
