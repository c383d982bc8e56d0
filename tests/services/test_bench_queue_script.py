"""scripts/bench_queue.py runs end to end on a small queue (its numbers go to
docs/benchmarks.md; here only that it works and claims every task exactly once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_bench_queue_claims_every_task(postgres_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "scripts/bench_queue.py",
            "--tasks",
            "300",
            "--workers",
            "2",
            "--work-ms",
            "1",
            "--admin-url",
            PG_ADMIN_URL,
        ],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "300 queued tasks, 2 worker processes" in done.stdout
    assert "| all | 300 |" in done.stdout
    assert "after 1 ms of work" in done.stdout
