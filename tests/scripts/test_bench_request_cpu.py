"""scripts/bench_request_cpu.py runs end to end on a few requests (its figures go to
docs/benchmarks.md; here only that every route answers 200 and a row is printed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_request_cpu_prints_a_row_per_route() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "scripts/bench_request_cpu.py",
            "--database",
            "sqlite",
            "--requests",
            "30",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for route in ("bare GET /bare", "poll, finished", "poll, queued", "create"):
        assert f"| {route} |" in done.stdout, done.stdout
