"""SQLite's WAL checkpoints, run by a thread of their own instead of by a commit.

In WAL mode a commit appends its pages to the ``-wal`` file. By default the commit
that takes that file past 1,000 pages then also copies them back into the database
file (a checkpoint, with an fsync of each file) before it returns. The create
route commits inline on the event loop (db/group_commit.py), so every few hundred
batches one commit stalled every request in the process for 10-17 ms: the p99 of
a create (decision 0013, item 29). songforge's connections therefore turn the
automatic checkpoint off (db/database.py), and each process that uses the file
keeps this thread, which runs a PASSIVE checkpoint every half second. A passive
checkpoint neither waits for nor blocks readers and writers, and the sqlite3
module lets go of the GIL while it runs, so the event loop goes on meanwhile.

At the create route's fastest (~3,000 creates/s, ~28 per commit) the WAL grows by
some hundreds of pages between two checkpoints: no larger than SQLite's own bound.
Several processes on one file each run one; a checkpoint that finds another under
way skips its turn. When the last connection to the file closes, SQLite
checkpoints and removes the WAL itself, as before.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger("songforge.db.wal_checkpoints")

CHECKPOINT_INTERVAL_SECONDS = 0.5
# A checkpoint under way when asked to stop finishes first (an fsync or two).
STOP_WAIT_SECONDS = 5.0


class WalCheckpoints:
    """A daemon thread that checkpoints the WAL of the SQLite file at ``path``
    every ``interval`` seconds, from ``start`` until ``stop``."""

    def __init__(self, path: str, interval: float = CHECKPOINT_INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread unless it runs already (called at every new connection)."""
        with self._lock:
            if self._stop is not None and not self._stop.is_set():
                return
            # Only the path and the event go to the thread: it holds no reference to
            # its owner, so an owner dropped without ``stop`` can still be collected.
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=_checkpoint_until,
                args=(self.path, self.interval, self._stop),
                name="sqlite-wal-checkpoints",
                daemon=True,
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for a checkpoint under way to finish."""
        with self._lock:
            stop, thread = self._stop, self._thread
            self._thread = None
        if stop is not None:
            stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_WAIT_SECONDS)


def checkpoint(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """One PASSIVE checkpoint: (1 if another checkpoint was under way, frames in the
    WAL, frames copied into the database file)."""
    busy, frames, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(busy), int(frames), int(copied)


def _checkpoint_until(path: str, interval: float, stop: threading.Event) -> None:
    try:
        # timeout=0: a file locked for a moment (a schema change) waits for the next turn.
        connection = sqlite3.connect(path, timeout=0, isolation_level=None)
    except sqlite3.Error as exc:
        log.warning("cannot open %s for its WAL checkpoints: %s", path, exc)
        return
    try:
        while not stop.wait(interval):
            try:
                checkpoint(connection)
            except sqlite3.Error as exc:
                # Next turn: a busy or locked file is a passing state; anything worse
                # is for the writers to report, who will meet it too.
                log.debug("WAL checkpoint of %s skipped: %s", path, exc)
    finally:
        connection.close()
