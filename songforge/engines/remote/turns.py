"""A per-turn admission gate for the relay loop: at most ``per_turn`` coroutines
pass it in one turn of the event loop; the rest wait for the next turns.

Why: asyncio runs, in one turn, every callback that is ready when the turn starts.
When hundreds of upstream answers land together (songs asked for together come
back together), every one of them would go on at once to its next CPU step —
issue the download, hand the file to the audio processes, write to the database —
and that turn would hold the loop for hundreds of milliseconds: every other song's
I/O, the heartbeats and the timers wait behind it (docs/benchmarks.md, "Relay
worker, third pass"). Passing the gate before such a step spreads a burst over
many short turns, with the selector polled between them; a waiting coroutine costs
one future. The total work is the same; only the longest turn shrinks.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque

# Steps admitted per turn. One step (start a download, submit a file, hand a
# result to the database threads) is ~0.3-0.5 ms of the loop on a loaded small
# machine, so 8 keep the gated part of a turn to a few milliseconds.
STEPS_PER_TURN = 8


class TurnGate:
    def __init__(self, loop: asyncio.AbstractEventLoop, per_turn: int = STEPS_PER_TURN) -> None:
        self._loop = loop
        self.per_turn = per_turn
        self._admitted = 0  # in the current turn
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._reset_scheduled = False

    async def admit(self) -> None:
        """Return in this turn if the turn has room, else in a later one (FIFO)."""
        if self._admitted < self.per_turn and not self._waiting:
            self._admitted += 1
            self._schedule_reset()
            return
        waiter = self._loop.create_future()
        self._waiting.append(waiter)
        self._schedule_reset()
        # A waiter cancelled before its turn is skipped (_next_turn); one cancelled
        # after being woken only wastes its place in that turn.
        await waiter

    def _schedule_reset(self) -> None:
        if not self._reset_scheduled:
            self._reset_scheduled = True
            # A callback scheduled now runs in the next turn, after this one's.
            self._loop.call_soon(self._next_turn)

    def _next_turn(self) -> None:
        self._reset_scheduled = False
        self._admitted = 0
        # Wake the next few; they run in the turn after this one, counted against it.
        while self._waiting and self._admitted < self.per_turn:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                self._admitted += 1
        if self._admitted or self._waiting:
            self._schedule_reset()


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, TurnGate] = weakref.WeakKeyDictionary()


def turn_gate() -> TurnGate:
    """The gate of the running loop (one per loop: every engine and the dispatcher
    on a loop share its turns)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = TurnGate(loop)
    return gate


async def next_step() -> None:
    """Wait for room in a turn of the running loop before a CPU step."""
    await turn_gate().admit()
