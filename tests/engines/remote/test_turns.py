"""The relay loop's per-turn admission gate (engines/remote/turns.py): a burst of
coroutines passes it a few per loop turn, in order, and none is left behind."""

from __future__ import annotations

import asyncio

from songforge.engines.remote.turns import TurnGate, turn_gate


class TurnCounter:
    """Counts the loop's turns: a callback that re-schedules itself runs once a turn."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.turn = 0
        self._loop = loop
        self._handle = loop.call_soon(self._tick)

    def _tick(self) -> None:
        self.turn += 1
        self._handle = self._loop.call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


async def burst() -> None:
    loop = asyncio.get_running_loop()
    gate = TurnGate(loop, per_turn=3)
    turns = TurnCounter(loop)
    passed: list[tuple[int, int]] = []  # (who, turn)

    async def step(who: int) -> None:
        await gate.admit()
        passed.append((who, turns.turn))

    # All 20 become ready in the same turn, as answers landing together do.
    await asyncio.gather(*(step(n) for n in range(20)))
    turns.stop()
    assert [who for who, _ in passed] == list(range(20))
    per_turn: dict[int, int] = {}
    for _, turn in passed:
        per_turn[turn] = per_turn.get(turn, 0) + 1
    assert max(per_turn.values()) <= 3
    assert len(per_turn) >= 7  # 20 spread over at least ceil(20 / 3) turns


async def cancelled_waiter() -> None:
    loop = asyncio.get_running_loop()
    gate = TurnGate(loop, per_turn=1)
    passed: list[int] = []

    async def step(who: int) -> None:
        await gate.admit()
        passed.append(who)

    tasks = [asyncio.create_task(step(n)) for n in range(5)]
    await asyncio.sleep(0)  # the first passes; the others wait
    tasks[2].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert passed == [0, 1, 3, 4]
    assert tasks[2].cancelled()


async def gate_of_the_loop() -> None:
    assert turn_gate() is turn_gate()
    assert turn_gate()._loop is asyncio.get_running_loop()


def test_a_burst_passes_a_few_per_turn_in_order() -> None:
    asyncio.run(burst())


def test_a_cancelled_waiter_does_not_hold_up_the_others() -> None:
    asyncio.run(cancelled_waiter())


def test_one_gate_per_loop() -> None:
    asyncio.run(gate_of_the_loop())
