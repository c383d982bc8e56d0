"""The queue at scale on PostgreSQL: claim latency with a deep backlog and many workers.

Makes a fresh database, queues N tasks (bulk insert, one account), then starts W worker
processes that claim as fast as they can (claim -> complete-free release: each claimed task
is marked done by a plain fenced UPDATE, so only the queue's own statements are timed).
With ``--work-ms M`` each worker spends M ms between its claim and marking the task
done (sleeping, as a worker waits on its engine): real workers claim once per song,
so the default 0 (claiming back to back) measures 8 busy processes competing for the
machine's cores as much as the queue.
Reports claim latency p50/p95/p99/max and claims per second, overall and for the first and
last thousand claims (a lock convoy shows as latency that grows with contention, not depth).
While the workers run, pg_stat_activity is sampled every 10 ms: how many of the bench's
backends wait on a lock (a convoy) versus run or wait for the client (CPU). The load
average before and after is printed, since on a shared machine it decides the latency.

    .venv/bin/python scripts/bench_queue.py --tasks 10000 --workers 8 [--work-ms 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services.accounts import create_account
from songforge.services.queue import claim_next_task

ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def fill(url: str, count: int, model: str) -> None:
    db = Database(url)
    upgrade_to_head(db)
    with db.write() as conn:
        account = create_account(conn)
    now = utcnow()
    rows = [
        {
            "id": f"tsk_bench_{i:06d}",
            "account_id": account.id,
            "model": model,
            "input": {"prompt": "x"},
            "status": "IN_PROGRESS",
            "stage": "queued",
            "created_at": now + timedelta(microseconds=i),
            "price": 0,
        }
        for i in range(count)
    ]
    with db.write() as conn:
        for start in range(0, count, 2000):
            conn.execute(sa.insert(tasks), rows[start : start + 2000])
    with db.write() as conn:
        conn.exec_driver_sql("ANALYZE tasks")
    db.dispose()


def worker(
    url: str,
    model: str,
    work_ms: float,
    ready: Any,
    out: multiprocessing.Queue,  # type: ignore[type-arg]
) -> None:
    db = Database(url, pool_size=2)
    worker_id = f"wrk_{uuid.uuid4().hex[:8]}"
    samples: list[tuple[float, float]] = []
    # Connect before the first timed claim: a running worker claims on a pooled
    # connection; opening it (TCP, authentication) is start-up, not a claim.
    with db.read_now() as conn:
        conn.execute(sa.text("SELECT 1"))
    # Start together once every process has imported and connected: a process
    # still starting up takes CPU from the others' claims on a small machine.
    ready.wait()
    while True:
        started = time.perf_counter()
        claim = claim_next_task(db, worker_id, [model], timedelta(seconds=60))
        took = time.perf_counter() - started
        if claim is None:
            break
        samples.append((time.time(), took))
        if work_ms:
            time.sleep(work_ms / 1000)  # the song being made
        with db.write() as conn:
            conn.execute(
                sa.update(tasks)
                .where(tasks.c.id == claim.task.id, tasks.c.lease_owner == worker_id)
                .values(status="completed", stage="done", lease_owner=None)
            )
    out.put(samples)
    db.dispose()


class LockSampler(threading.Thread):
    """Samples pg_stat_activity: backends of the bench's database waiting on a lock."""

    def __init__(self, admin_url: str, database: str) -> None:
        super().__init__(daemon=True)
        self.engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        self.database = database
        self.stop = threading.Event()
        self.samples: list[tuple[int, int]] = []  # (waiting on a lock, active)

    def run(self) -> None:
        query = sa.text(
            "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'), "
            "count(*) FILTER (WHERE state = 'active') "
            "FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                waiting, active = conn.execute(query, {"name": self.database}).one()
                self.samples.append((int(waiting), int(active)))
                time.sleep(0.01)
        self.engine.dispose()

    def summary(self) -> str:
        if not self.samples:
            return "no samples"
        waiting = [w for w, _ in self.samples]
        active = [a for _, a in self.samples]
        any_waiting = sum(1 for w in waiting if w) / len(waiting)
        return (
            f"{len(self.samples)} samples of pg_stat_activity: backends waiting on a lock "
            f"mean {statistics.mean(waiting):.2f}, max {max(waiting)}, in "
            f"{any_waiting:.1%} of samples; active backends mean {statistics.mean(active):.2f}"
        )


def loadavg() -> str:
    try:
        with open("/proc/loadavg") as file:
            return " ".join(file.read().split()[:3])
    except OSError:
        return "unknown"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--admin-url", default=ADMIN)
    parser.add_argument("--work-ms", type=float, default=0.0, help="work between claims")
    args = parser.parse_args()

    name = f"songforge_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(args.admin_url).set(database=name).render_as_string(False)
    sampler = LockSampler(args.admin_url, name)
    load_before = loadavg()
    try:
        fill(url, args.tasks, "bench")
        context = multiprocessing.get_context("spawn")
        out = context.Queue()
        ready = context.Barrier(args.workers)
        started = time.time()
        processes = [
            context.Process(target=worker, args=(url, "bench", args.work_ms, ready, out))
            for _ in range(args.workers)
        ]
        for process in processes:
            process.start()
        sampler.start()
        samples = [s for _ in processes for s in out.get()]
        sampler.stop.set()
        for process in processes:
            process.join()
        wall = time.time() - started
        sampler.join(5)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    samples.sort()
    latencies = [took * 1000 for _, took in samples]
    assert len(latencies) == args.tasks, (len(latencies), args.tasks)

    def line(label: str, values: list[float]) -> str:
        return (
            f"| {label} | {len(values):,} | {statistics.median(values):.2f} | "
            f"{percentile(values, 0.95):.2f} | {percentile(values, 0.99):.2f} | {max(values):.2f} |"
        )

    print(
        f"{args.tasks:,} queued tasks, {args.workers} worker processes, wall {wall:.1f} s, "
        f"{args.tasks / wall:,.0f} claims/s (each claim also marked done"
        f"{f', after {args.work_ms:g} ms of work' if args.work_ms else ''})"
    )
    print(f"load average before / after: {load_before} / {loadavg()}")
    print(sampler.summary())
    print("| claims | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    print(line("all", latencies))
    print(line("first 1,000 (deepest queue)", latencies[:1000]))
    print(line("last 1,000", latencies[-1000:]))


if __name__ == "__main__":
    main()
