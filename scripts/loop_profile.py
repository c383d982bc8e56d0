"""Which code was running when an event loop stalled (for scripts/bench_remote.py).

A sampling watchdog: a coroutine on the watched loop stamps the time every few
milliseconds; a thread checks the stamp every ``period`` seconds and, while it is
older than ``threshold`` (the loop has not come round), records the loop thread's
stack and the stacks of the other threads that are not parked in a wait. Each
sample stands for ``period`` seconds of stall, so summing samples per stack
attributes the stall time to code.

The loop thread's stack says which callback ran (or which call it is stuck in);
the other threads' stacks say who else was running Python code at that moment
(with the GIL, only one thread runs at a time: a thread in pure Python or in a C
call that keeps the GIL stalls the loop even though the loop's own code is idle).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType

# Frames of these functions mean "this thread is parked", not "running".
IDLE_FUNCTIONS = frozenset(
    {
        "wait",
        "_worker",
        "select",
        "poll",
        "_run_once",
        "get",
        "sleep",
        "acquire",
        "_wait_for_tstate_lock",
        "join",
        "run_forever",
    }
)


def _summary(frame: FrameType | None, depth: int = 6) -> str:
    """The innermost ``depth`` frames, innermost first, as file:function:line."""
    stack = traceback.extract_stack(frame)[-depth:]
    return " <- ".join(
        f"{entry.filename.rsplit('/', 2)[-1]}:{entry.name}:{entry.lineno}"
        for entry in reversed(stack)
    )


def _parked(frame: FrameType | None) -> bool:
    return frame is None or frame.f_code.co_name in IDLE_FUNCTIONS


@dataclass
class LoopProfile:
    period: float
    threshold: float
    loop_stacks: Counter[str] = field(default_factory=Counter)
    other_stacks: Counter[str] = field(default_factory=Counter)
    samples: int = 0

    def report(self, top: int = 12) -> str:
        lines = [
            f"stalled samples: {self.samples} (~{self.samples * self.period * 1000:.0f} ms "
            f"of loop time later than {self.threshold * 1000:.0f} ms)",
            "loop thread, by stack (ms):",
        ]
        for stack, count in self.loop_stacks.most_common(top):
            lines.append(f"  {count * self.period * 1000:8.0f}  {stack}")
        lines.append("other running threads meanwhile, by stack (ms):")
        for stack, count in self.other_stacks.most_common(top):
            lines.append(f"  {count * self.period * 1000:8.0f}  {stack}")
        return "\n".join(lines)


class LoopWatchdog:
    def __init__(
        self, loop: asyncio.AbstractEventLoop, *, period: float = 0.002, threshold: float = 0.02
    ) -> None:
        self.loop = loop
        self.profile = LoopProfile(period, threshold)
        self._stamp = time.monotonic()
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._tick(), self.loop)
        self._thread.start()

    def stop(self) -> LoopProfile:
        self._stop.set()
        self._thread.join(5)
        return self.profile

    async def _tick(self) -> None:
        self._loop_thread = threading.get_ident()
        while True:
            self._stamp = time.monotonic()
            await asyncio.sleep(self.profile.period)

    def _watch(self) -> None:
        profile = self.profile
        while not self._stop.wait(profile.period):
            if self._loop_thread is None:
                continue
            if time.monotonic() - self._stamp < profile.threshold:
                continue
            frames = sys._current_frames()
            profile.samples += 1
            profile.loop_stacks[_summary(frames.get(self._loop_thread))] += 1
            me = threading.get_ident()
            for ident, frame in frames.items():
                if ident in (me, self._loop_thread) or _parked(frame):
                    continue
                profile.other_stacks[_summary(frame, depth=4)] += 1
