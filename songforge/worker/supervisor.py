"""Starts worker child processes for ``songforge serve`` and restarts any that die."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess

from songforge.settings import Settings
from songforge.worker.process import run_worker_process

log = logging.getLogger("songforge.supervisor")


def _child(settings: Settings, models: list[str]) -> None:
    raise SystemExit(run_worker_process(settings, models, die_with_parent=True))


class WorkerSupervisor:
    def __init__(self, settings: Settings, count: int, models: Sequence[str]) -> None:
        self._settings = settings
        self._count = count
        self._models = list(models)
        # spawn, not fork: the parent runs threads and an event loop.
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._stop = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)

    def _start_one(self) -> BaseProcess:
        process = self._context.Process(
            target=_child, args=(self._settings, self._models), name="songforge-worker"
        )
        process.start()
        return process

    def start(self) -> None:
        self._processes = [self._start_one() for _ in range(self._count)]
        self._monitor.start()

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stop.wait(1.0):
            for index, process in enumerate(self._processes):
                if process.is_alive() or self._stop.is_set():
                    continue
                log.warning(
                    "worker pid %s exited with %s; restarting", process.pid, process.exitcode
                )
                time.sleep(backoff)
                backoff = min(backoff * 2, 60.0)
                self._processes[index] = self._start_one()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        deadline = time.monotonic() + timeout
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
