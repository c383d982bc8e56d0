"""The progress line ``songforge generate`` shows while it polls.

Rendering is pure (a Task in, a string out) so it is tested without a
terminal; ``ProgressDisplay`` only decides how the line reaches the stream:
redrawn in place on a terminal, one line per change in a log or a pipe.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TextIO

from songforge.client.models import Task

BAR_WIDTH = 24


def format_clock(seconds: float | None) -> str:
    """``83.4`` -> ``1:23``; ``3723`` -> ``1:02:03``; unknown -> ``--:--``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def progress_bar(percent: float | None, width: int = BAR_WIDTH) -> str:
    # ASCII only: stderr may be a log file or a terminal without UTF-8.
    fraction = 0.0 if percent is None else min(max(percent, 0.0), 100.0) / 100.0
    filled = int(fraction * width)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def task_percent(task: Task) -> float:
    if task.is_completed:
        return 100.0
    return min(max(task.progress or 0.0, 0.0), 100.0)


def render_progress(task: Task, elapsed: float | None = None, width: int = BAR_WIDTH) -> str:
    """One status line: bar, percent, stage, queue position, ETA, elapsed time."""
    percent = task_percent(task)
    parts = [f"{progress_bar(percent, width)} {percent:3.0f}%"]
    if task.is_failed:
        kind = task.error.type if task.error else "failed"
        parts.append("failed" if kind == "failed" else f"failed ({kind})")
    elif task.is_completed:
        parts.append("done")
    else:
        parts.append(task.stage or task.status.lower())
        if task.queue_position is not None and (task.stage in (None, "queued")):
            parts.append(f"queue #{task.queue_position}")
        if task.eta_seconds is not None:
            parts.append(f"ETA {format_clock(task.eta_seconds)}")
    if elapsed is not None:
        parts.append(f"{format_clock(elapsed)} elapsed")
    return " | ".join(parts)


def change_key(task: Task) -> tuple[object, ...]:
    """What must differ for a non-terminal display to print a new line.

    The ETA and the elapsed time move on every poll; printing for those alone
    would turn a log into one line per poll.
    """
    return (task.status, task.stage, int(task_percent(task)), task.queue_position)


def redraw(line: str, previous_width: int) -> str:
    """The text that replaces the previous in-place line with ``line``."""
    return "\r" + line + " " * max(0, previous_width - len(line))


class ProgressDisplay:
    def __init__(
        self,
        stream: TextIO,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self._clock = clock
        self._started = clock()
        self._width = 0
        self._last_key: tuple[object, ...] | None = None

    def update(self, task: Task) -> None:
        line = render_progress(task, self._clock() - self._started)
        if self.interactive:
            self.stream.write(redraw(line, self._width))
            self._width = len(line)
        else:
            key = change_key(task)
            if key == self._last_key:
                return
            self._last_key = key
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        """End an in-place line so what follows starts on its own line."""
        if self.interactive and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0
