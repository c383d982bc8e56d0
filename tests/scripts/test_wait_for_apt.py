"""scripts/wait-for-apt: scripts/install waits for apt's lock instead of failing at once."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "wait-for-apt"


def run_script(locks: list[Path], **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(SCRIPT)],
        env={**os.environ, "SONGFORGE_APT_LOCKS": " ".join(map(str, locks)), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_returns_at_once_when_apt_is_free(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    lock.touch()
    done = subprocess.run(
        [str(SCRIPT)],
        env={**os.environ, "SONGFORGE_APT_LOCKS": str(lock)},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert done.stdout == ""


def test_waits_for_a_held_lock_and_says_so(tmp_path: Path) -> None:
    free, held = tmp_path / "lock", tmp_path / "lock-frontend"
    free.touch()
    # What apt and dpkg take: a POSIX record lock, as unattended-upgrades would hold it.
    with held.open("w") as holder:
        fcntl.lockf(holder, fcntl.LOCK_EX)
        process = run_script([free, held])
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "waiting for apt" in first and str(held) in first
        assert process.poll() is None  # still waiting while the lock is held
        fcntl.lockf(holder, fcntl.LOCK_UN)
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "apt is free" in out


def test_gives_up_with_a_clear_message_after_its_timeout(tmp_path: Path) -> None:
    held = tmp_path / "lock-frontend"
    with held.open("w") as holder:
        fcntl.lockf(holder, fcntl.LOCK_EX)
        process = run_script([held], SONGFORGE_APT_WAIT_SECONDS="1")
        out, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert "apt is still busy" in out
