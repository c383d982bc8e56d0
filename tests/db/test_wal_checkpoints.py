"""SQLite's WAL is checkpointed by a thread of the process, not by a commit."""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from songforge.db.database import Database
from songforge.db.wal_checkpoints import WalCheckpoints, checkpoint

THREAD_NAME = "sqlite-wal-checkpoints"


def _checkpoint_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == THREAD_NAME)


def _wal_file(path: Path) -> Path:
    return path.with_name(path.name + "-wal")


def _fill_wal(path: Path, megabytes: int) -> sqlite3.Connection:
    """Commit ``megabytes`` of rows with SQLite's automatic checkpoint off; the
    connection is returned open, since closing the last one checkpoints the WAL."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE IF NOT EXISTS filler (body BLOB)")
    for _ in range(megabytes):
        connection.execute("INSERT INTO filler VALUES (zeroblob(1048576))")
    return connection


def _wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def test_the_thread_copies_the_wal_into_the_database_file(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = _fill_wal(path, 3)
    # Committed, but only in the WAL: the database file holds the schema alone.
    assert path.stat().st_size < 100_000
    assert _wal_file(path).stat().st_size > 3_000_000
    checkpoints = WalCheckpoints(str(path), interval=0.05)
    checkpoints.start()
    try:
        assert _wait_until(lambda: path.stat().st_size > 3_000_000)
    finally:
        checkpoints.stop()
        writer.close()
    assert not checkpoints.running


def test_start_twice_runs_one_thread_and_stop_ends_it(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    sqlite3.connect(path).execute("PRAGMA journal_mode=WAL").close()
    before = _checkpoint_threads()
    checkpoints = WalCheckpoints(str(path), interval=0.05)
    checkpoints.start()
    checkpoints.start()
    assert checkpoints.running and _checkpoint_threads() == before + 1
    checkpoints.stop()
    assert not checkpoints.running and _checkpoint_threads() == before
    # A stopped one can be started again (a disposed Database used again).
    checkpoints.start()
    assert checkpoints.running
    checkpoints.stop()


def test_a_checkpoint_reports_what_it_copied(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    writer = _fill_wal(path, 1)
    observer = sqlite3.connect(path, isolation_level=None)
    try:
        busy, frames, copied = checkpoint(observer)
        assert busy == 0 and frames > 256 and copied == frames
    finally:
        observer.close()
        writer.close()


def test_songforge_connections_leave_checkpoints_to_the_thread(tmp_path: Path) -> None:
    before = _checkpoint_threads()
    db = Database(f"sqlite:///{tmp_path / 's.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (body BLOB)"))
        # No commit checkpoints: the thread started with the first connection does.
        assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
    assert _checkpoint_threads() == before + 1
    with db.write() as conn:
        for _ in range(3):
            conn.execute(text("INSERT INTO t VALUES (zeroblob(1048576))"))
    assert _wait_until(lambda: (tmp_path / "s.db").stat().st_size > 3_000_000)
    db.dispose()
    assert _checkpoint_threads() == before


def test_a_database_dropped_without_dispose_stops_its_thread(tmp_path: Path) -> None:
    before = _checkpoint_threads()
    db = Database(f"sqlite:///{tmp_path / 'd.db'}")
    with db.read() as conn:
        conn.execute(text("SELECT 1"))
    assert _checkpoint_threads() == before + 1
    del db, conn
    gc.collect()
    assert _wait_until(lambda: _checkpoint_threads() == before)


def test_in_memory_databases_have_no_thread() -> None:
    before = _checkpoint_threads()
    db = Database("sqlite:///:memory:")
    with db.read() as conn:
        conn.execute(text("SELECT 1"))
    assert _checkpoint_threads() == before
    db.dispose()
