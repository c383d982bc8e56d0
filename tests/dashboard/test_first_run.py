"""The first run tells the operator how to sign in to the dashboard as the admin.

`songforge serve` runs as a user runs it (a subprocess on a fresh data directory);
the password it prints once must sign in to the admin pages, and a second run
must neither print it again nor change it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from songforge.bootstrap import ADMIN_EMAIL, admin_sign_in_text, bootstrap_if_empty
from songforge.db.database import Database
from songforge.db.migrate import upgrade_to_head
from songforge.services.passwords import stored_hash_for, verify_password
from tests.conftest import free_port
from tests.dashboard.webclient import WebClient

ROOT = Path(__file__).resolve().parents[2]
PRINTED_PASSWORD = re.compile(
    r"sign in at (\S+)/signin as admin@localhost with this password \(shown once\):\s+(\S+)"
)


def _serve(data_dir: Path, port: int, log: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_DATA_DIR": str(data_dir),
        "SONGFORGE_PORT": str(port),
        # No workers: this is about signing in, and it keeps the test fast.
        "SONGFORGE_WORKERS": "0",
    }
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "songforge.cli", "serve"],
            env=env,
            cwd=data_dir.parent,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _wait_up(url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"server did not come up:\n{log.read_text()[-4000:]}")


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def _signs_in_as_admin(url: str, password: str) -> bool:
    with WebClient(url) as client:
        answer = client.sign_in(ADMIN_EMAIL, password)
        if answer.status_code != 303:
            return False
        return client.get("/dashboard/admin").status_code == 200


def test_first_run_prints_the_admin_password_once_and_it_signs_in(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first_log = tmp_path / "first.log"
    process = _serve(data_dir, port, first_log)
    try:
        _wait_up(url, first_log)
        printed = PRINTED_PASSWORD.search(first_log.read_text())
        assert printed, first_log.read_text()
        assert printed.group(1) == url
        password = printed.group(2)
        assert len(password) >= 20
        assert "songforge accounts set-password admin@localhost" in first_log.read_text()
        assert _signs_in_as_admin(url, password)
        assert not _signs_in_as_admin(url, password + "x")
    finally:
        _stop(process)

    second_log = tmp_path / "second.log"
    process = _serve(data_dir, port, second_log)
    try:
        _wait_up(url, second_log)
        assert password not in second_log.read_text()
        assert "shown once" not in second_log.read_text()
        assert _signs_in_as_admin(url, password)
    finally:
        _stop(process)


def test_bootstrap_stores_only_a_hash_of_a_fresh_password(tmp_path: Path) -> None:
    passwords = []
    for run in range(2):
        db = Database(f"sqlite:///{tmp_path / f'run{run}.db'}")
        upgrade_to_head(db)
        first = bootstrap_if_empty(db, credits=100)
        assert first is not None
        with db.read() as conn:
            stored = stored_hash_for(conn, first.account_id)
        assert stored is not None and first.admin_password not in stored
        assert verify_password(stored, first.admin_password)
        assert bootstrap_if_empty(db, credits=100) is None
        passwords.append(first.admin_password)
        db.dispose()
    assert passwords[0] != passwords[1]


def test_docs_show_the_first_run_sign_in_text_as_printed() -> None:
    documented = (ROOT / "docs" / "dashboard.md").read_text()
    assert admin_sign_in_text("http://127.0.0.1:8000", "3q2-Xc…").strip() in documented
