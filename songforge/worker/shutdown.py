"""Graceful shutdown of a worker process on SIGTERM (or SIGINT).

The first signal stops the worker claiming and gives the song in hand
``grace`` seconds to finish (a render is minutes of work: throwing it away on
every deploy would be waste). If it is not done by then, ``on_deadline`` runs:
the worker hands its tasks back to the queue (lease released, attempt not
counted) and the process exits at once. A second signal skips the wait.

The hand-back is a database write fenced on the lease owner, so it is safe
while the engine is still running in the main thread: if the song completes in
the same instant, exactly one of the two writes wins, and any later write of
this worker is fenced out. Nothing here relies on the engine cooperating.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

log = logging.getLogger("songforge.worker")


class GracefulShutdown:
    def __init__(
        self, stop: threading.Event, grace: float, on_deadline: Callable[[], None]
    ) -> None:
        self._stop = stop
        self._grace = grace
        self._on_deadline = on_deadline
        self._done = threading.Event()
        self._now = threading.Event()
        self._lock = threading.Lock()
        self._timer: threading.Thread | None = None

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.begin(signal.Signals(signum).name)

    def begin(self, reason: str) -> None:
        """Stop claiming; start the deadline (a repeat request ends the wait now)."""
        with self._lock:
            if self._timer is not None:
                self._now.set()
                return
            log.info(
                "%s: finishing the song in hand (at most %.0f s), then exiting",
                reason,
                self._grace,
            )
            self._stop.set()
            self._timer = threading.Thread(target=self._watch, name="shutdown", daemon=True)
            self._timer.start()

    def _watch(self) -> None:
        deadline = threading.Event()
        # Wake on whichever comes first: done, a second signal, or the deadline.
        waker = threading.Timer(self._grace, deadline.set)
        waker.daemon = True
        waker.start()
        while not (self._done.is_set() or self._now.is_set() or deadline.is_set()):
            self._done.wait(0.05)
        waker.cancel()
        if not self._done.is_set():
            self._on_deadline()

    def finished(self) -> None:
        """The worker loop has returned: nothing is left to hand back."""
        self._done.set()
