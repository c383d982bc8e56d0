"""Run a step over a stream on a few threads, and hand the results back in order.

The mixer's per-part work (render, filter, level) releases the GIL (numpy,
scipy's filters, the soundfont synthesiser) and used to leave the second core
idle for a third of a song's render. ``ordered_map`` keeps at most ``workers``
items in flight (each part of a song is a full-length buffer) and returns the
results in the stream's order, so whatever adds them up does so in the same
order as a plain loop: the same floating-point sums, the same samples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _End:
    """Marks the end of the stream (a task that found nothing left to take)."""


_END = _End()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[R]:
    """``map(fn, items)`` with up to ``workers`` calls at once, results in order.

    Items are drawn one at a time, in order, under a lock (a generator may be
    the source, and drawing may itself render something); ``fn`` runs outside
    it. An exception from drawing or from ``fn`` is raised to the consumer.
    """
    if workers <= 1:
        yield from map(fn, items)
        return
    source = enumerate(items)
    draw = threading.Lock()

    def task() -> tuple[int, R] | _End:
        with draw:
            taken = next(source, None)
        if taken is None:
            return _END
        index, item = taken
        return index, fn(item)

    ready: dict[int, R] = {}
    wanted = 0
    exhausted = False
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: set[Future[tuple[int, R] | _End]] = set()
        while True:
            # Never more than ``workers`` results made or being made ahead of the consumer.
            while not exhausted and len(pending) + len(ready) < workers:
                pending.add(pool.submit(task))
            if wanted in ready:
                yield ready.pop(wanted)
                wanted += 1
                continue
            if not pending:
                return  # the stream ended: every item drawn was handed back
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                outcome = future.result()
                if isinstance(outcome, _End):
                    exhausted = True
                else:
                    ready[outcome[0]] = outcome[1]
