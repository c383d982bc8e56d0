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

On a shared machine a stall may also be the OS running other people's processes.
For each stall episode the watchdog also takes the CPU time our process (less the
watchdog itself) and its helper processes used meanwhile: when none of our code
ran, the loop was waiting for a core held by someone else. So min(stall, our CPU
during it) bounds the part of a stall our own code can have caused.
"""

from __future__ import annotations

import asyncio
import gc
import resource
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
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
    """The innermost ``depth`` frames, innermost first, as file:function:line (the
    import machinery's frames folded into one "(importing)")."""
    stack = traceback.extract_stack(frame)
    importing = False
    while stack and stack[-1].filename.startswith("<frozen importlib"):
        stack.pop()
        importing = True
    names = [
        f"{entry.filename.rsplit('/', 2)[-1]}:{entry.name}:{entry.lineno}"
        for entry in reversed(stack[-depth:])
    ]
    return " <- ".join(["(importing)", *names] if importing else names)


def _parked(frame: FrameType | None) -> bool:
    return frame is None or frame.f_code.co_name in IDLE_FUNCTIONS


CLOCK_TICKS = 100.0  # os.sysconf("SC_CLK_TCK") on Linux


def process_cpu(pid: int) -> float:
    """CPU seconds a process used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


@dataclass(frozen=True)
class Episode:
    """One stall: its length, and CPU used meanwhile (seconds)."""

    wall: float
    loop_cpu: float
    process_cpu: float  # this process, the watchdog excluded
    helpers_cpu: float  # its helper processes

    @property
    def ours(self) -> float:
        """At most this much of the stall can be our own code's doing."""
        return min(self.wall, self.process_cpu + self.helpers_cpu)


@dataclass
class LoopProfile:
    period: float
    threshold: float
    loop_stacks: Counter[str] = field(default_factory=Counter)
    other_stacks: Counter[str] = field(default_factory=Counter)
    episodes: list[Episode] = field(default_factory=list)
    samples: int = 0
    # generation -> durations of the garbage collector's passes (seconds): a pass
    # stops whichever thread triggered it, holding the GIL, so every thread waits.
    gc_pauses: dict[int, list[float]] = field(default_factory=dict)

    def report(self, top: int = 12) -> str:
        worst = max(self.episodes, key=lambda e: e.wall, default=Episode(0.0, 0.0, 0.0, 0.0))
        ours = max((e.ours for e in self.episodes), default=0.0)
        lines = [
            f"stalled samples: {self.samples} (~{self.samples * self.period * 1000:.0f} ms "
            f"of loop time later than {self.threshold * 1000:.0f} ms), "
            f"{len(self.episodes)} episodes",
            f"worst episode: {worst.wall * 1000:.0f} ms; CPU meanwhile: this process "
            f"{worst.process_cpu * 1000:.0f} ms (its loop thread {worst.loop_cpu * 1000:.0f} ms), "
            f"audio processes {worst.helpers_cpu * 1000:.0f} ms; "
            f"largest stall our code can account for: {ours * 1000:.0f} ms",
        ]
        for generation, pauses in sorted(self.gc_pauses.items()):
            lines.append(
                f"gc generation {generation}: {len(pauses)} passes, "
                f"max {max(pauses) * 1000:.1f} ms, total {sum(pauses) * 1000:.0f} ms"
            )
        lines.append("loop thread, by stack (ms):")
        for stack, count in self.loop_stacks.most_common(top):
            lines.append(f"  {count * self.period * 1000:8.0f}  {stack}")
        lines.append("other running threads meanwhile, by stack (ms):")
        for stack, count in self.other_stacks.most_common(top):
            lines.append(f"  {count * self.period * 1000:8.0f}  {stack}")
        return "\n".join(lines)


class LoopWatchdog:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        period: float = 0.002,
        threshold: float = 0.02,
        helper_pids: Callable[[], Iterable[int]] = lambda: (),
    ) -> None:
        self.loop = loop
        self._helper_pids = helper_pids
        self.profile = LoopProfile(period, threshold)
        self._stamp = time.monotonic()
        self._gc_started = 0.0
        self._loop_thread: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)

    def start(self) -> None:
        asyncio.run_coroutine_threadsafe(self._tick(), self.loop)
        gc.callbacks.append(self._gc)
        self._thread.start()

    def stop(self) -> LoopProfile:
        self._stop.set()
        self._thread.join(5)
        gc.callbacks.remove(self._gc)
        return self.profile

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            pause = time.perf_counter() - self._gc_started
            self.profile.gc_pauses.setdefault(info["generation"], []).append(pause)

    async def _tick(self) -> None:
        self._loop_thread = threading.get_ident()
        while True:
            self._stamp = time.monotonic()
            await asyncio.sleep(self.profile.period)

    def _cpu(self) -> tuple[float, float, float, float]:
        """(now, CPU of the loop thread, of this process, of its helpers) in seconds."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        own = usage.ru_utime + usage.ru_stime - time.thread_time()  # less the watchdog
        helpers = sum(process_cpu(pid) for pid in self._helper_pids())
        loop_cpu = 0.0
        if self._loop_thread is not None:
            loop_cpu = time.clock_gettime(time.pthread_getcpuclockid(self._loop_thread))
        return time.monotonic(), loop_cpu, own, helpers

    def _watch(self) -> None:
        profile = self.profile
        before = self._cpu()
        start: tuple[float, float, float, float] | None = None
        while not self._stop.wait(profile.period):
            if self._loop_thread is None:
                continue
            now = self._cpu()
            if now[0] - self._stamp < profile.threshold:
                if start is not None:  # the loop came back: one episode ends
                    spent = (a - b for a, b in zip(now, start, strict=True))
                    profile.episodes.append(Episode(*spent))
                    start = None
                before = now
                continue
            if start is None:
                start = before
            frames = sys._current_frames()
            profile.samples += 1
            profile.loop_stacks[_summary(frames.get(self._loop_thread))] += 1
            me = threading.get_ident()
            for ident, frame in frames.items():
                if ident in (me, self._loop_thread) or _parked(frame):
                    continue
                profile.other_stacks[_summary(frame, depth=4)] += 1


class HandleTimer:
    """Times every callback the loop runs, and every turn of the loop (asyncio's own
    ``slow_callback_duration`` needs debug mode, whose bookkeeping changes what is
    measured). A turn's length is what a stall is made of: asyncio runs every callback
    that is ready when the turn starts, so a turn with 250 ready task steps of 2 ms
    stalls everything else for 500 ms. Callbacks are labelled by what they resume
    (a task's coroutine and where it stopped next, or the callback's name)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, *, slow: float = 0.05) -> None:
        self.loop = loop
        self.slow = slow
        self.turns: list[tuple[float, int]] = []  # (seconds, callbacks run)
        self.work: list[float] = []  # per turn: seconds in callbacks (not in select)
        self.by_label: Counter[str] = Counter()  # label -> seconds, in slow turns only
        self.calls: Counter[str] = Counter()
        self._current: list[tuple[str, float]] = []
        self._installed = False

    def install(self) -> None:
        """Call on the loop's thread (e.g. through call_soon_threadsafe)."""
        events = asyncio.events
        original_run = events.Handle._run
        timer = self

        def timed_run(handle: asyncio.Handle) -> None:
            started = time.perf_counter()
            try:
                original_run(handle)
            finally:
                timer._current.append((_label(handle), time.perf_counter() - started))

        events.Handle._run = timed_run  # type: ignore[method-assign]
        loop = self.loop
        original_once = loop._run_once  # type: ignore[attr-defined]

        def timed_once() -> None:
            self._current = []
            started = time.perf_counter()
            original_once()
            took = time.perf_counter() - started
            self.turns.append((took, len(self._current)))
            self.work.append(sum(spent for _, spent in self._current))
            if took >= self.slow:
                for label, spent in self._current:
                    self.by_label[label] += spent
                    self.calls[label] += 1

        loop._run_once = timed_once  # type: ignore[attr-defined]
        self._installed = True

    def report(self, top: int = 15) -> str:
        durations = sorted(t for t, _ in self.turns)
        if not durations:
            return "no turns"
        slow = [(t, n) for t, n in self.turns if t >= self.slow]
        work = sorted(self.work)
        lines = [
            f"callbacks per turn (ms): max {work[-1] * 1000:.1f}, "
            f"p99 {work[int(len(work) * 0.99)] * 1000:.2f}, "
            f"p99.9 {work[int(len(work) * 0.999)] * 1000:.2f}",
            f"turns: {len(durations)}, max {durations[-1] * 1000:.1f} ms, "
            f"p99 {durations[int(len(durations) * 0.99)] * 1000:.2f} ms; "
            f"{len(slow)} turns over {self.slow * 1000:.0f} ms, "
            f"callbacks in them: max {max((n for _, n in slow), default=0)}; turns over "
            f"10/20/30/40 ms: {sum(t >= 0.01 for t in durations)}/"
            f"{sum(t >= 0.02 for t in durations)}/{sum(t >= 0.03 for t in durations)}/"
            f"{sum(t >= 0.04 for t in durations)}",
            "callbacks in the slow turns, by label (ms total, count):",
        ]
        for label, spent in self.by_label.most_common(top):
            lines.append(f"  {spent * 1000:8.1f} {self.calls[label]:6d}  {label}")
        return "\n".join(lines)


def _label(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = ""
        # The innermost frame it is suspended in now: where this step ended.
        while frame is not None:
            where = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}"
            awaited = getattr(coro, "cr_await", None)
            if awaited is None or not hasattr(awaited, "cr_frame"):
                break
            coro, frame = awaited, awaited.cr_frame
        return f"task step -> {where}"
    name = getattr(callback, "__qualname__", None) or repr(callback)
    return str(name)
