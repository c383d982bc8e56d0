"""The CPU part of relaying a song — checking the upstream's file and, when
needed, re-encoding it — run in a small pool of processes of its own.

Processes, not threads: profiling the relay loop (docs/benchmarks.md, "Remote
engines") showed its stalls were spent waiting for the GIL. The loop makes many
system calls per turn (each HTTP connection's state is polled), each one lets
the GIL go, and getting it back meant waiting behind the audio threads' Python
code (frame walks, CRCs, numpy wrappers) — up to a switch interval per call, so
hundreds of milliseconds per turn. In other processes that work takes no GIL of
the loop's. The file goes over a pipe (a few MB: milliseconds). The engines'
other CPU-bound step, decoding a big JSON answer (MiniMax's hex), runs here too
(``run``, the engines' ``offload``).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import suppress
from typing import Any, TypeVar

from songforge.audio.mp3 import lame_version
from songforge.audio.output_format import OutputFormat
from songforge.engines.remote.audio import UpstreamAudio, deliverable_audio
from songforge.worker.delivery import Delivery, check_encoding

log = logging.getLogger("songforge.worker.relay")

T = TypeVar("T")


def finish_audio(upstream: UpstreamAudio, output: OutputFormat) -> Delivery:
    """Check the upstream's file and make the requested file of it (CPU-bound)."""
    encoded = deliverable_audio(upstream, output)
    check_encoding(encoded, output)
    return Delivery(song=encoded)


def audio_workers() -> int:
    """How many audio processes: two, but never all the cores. On a 2-core machine
    two busy encoders beside the upstream's answers left the loop waiting for a core
    (loop stalls of 80-140 ms against 20-80 ms with one; docs/benchmarks.md, third
    pass); one core stays the loop's."""
    return max(1, min(2, (os.cpu_count() or 2) - 1))


# Niceness of the audio processes: on a small machine the loop (and the HTTP it
# carries for hundreds of songs) should get a core before one song's encoding.
AUDIO_NICENESS = 5


# How often an audio process checks that the worker that started it is alive.
PARENT_CHECK_SECONDS = 1.0


def _exit_with_parent(parent: int) -> None:
    """End this audio process when ``parent``, the worker that started it, is gone.

    A worker killed outright (SIGKILL, the OOM killer) cannot shut its pool down,
    and an idle pool process waits on its task queue for ever: the queue's pipe
    never reports the end, since the process holds a writing end of it too. Its
    parent then becomes another process (init), which a thread notices. The
    worker's pid comes from the worker itself, not from ``os.getppid()`` here: a
    worker killed while this process was still starting would already be gone.
    (PR_SET_PDEATHSIG is not used: it fires when the *thread* that spawned the
    process ends, and the pool spawns from whichever thread submits.)
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _warm_up(worker: int) -> None:
    _exit_with_parent(worker)
    with suppress(OSError):
        os.nice(AUDIO_NICENESS)
    # Imports are done by unpickling finish_audio; this finds LAME's version once,
    # before the first song waits on it.
    lame_version()


class AudioPool:
    """``workers`` processes, started on first use; a pool whose process died (out of
    memory, killed) is replaced, and the song that was in it fails its attempt."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        """Start the processes now, from the calling thread: spawning them on the
        loop at the first song held it for ~15 ms (and made that song wait)."""
        self._executor().submit(lame_version)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                # spawn: the worker process runs threads and an event loop.
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_warm_up,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def finish(self, upstream: UpstreamAudio, output: OutputFormat) -> Delivery:
        return await self.run(finish_audio, upstream, output)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)`` in one of the processes (a module-level function of
        picklable data): the engines' ``offload`` for decoding big answers too."""
        pool = self._executor()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            log.error("an audio process died; starting new ones")
            if self._pool is pool:
                self._pool = None
                pool.shutdown(wait=False, cancel_futures=True)
            raise

    def pids(self) -> list[int]:
        """The audio processes running now (for diagnostics and benchmarks)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
