"""ordered_map: a few at a time, results in the stream's order, errors passed on."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from songforge.composer.ordered import ordered_map


def test_results_come_back_in_order_whatever_finishes_first() -> None:
    def slow_for_evens(n: int) -> int:
        time.sleep(0.02 if n % 2 == 0 else 0.0)
        return n * n

    assert list(ordered_map(slow_for_evens, range(9), workers=3)) == [n * n for n in range(9)]
    assert list(ordered_map(slow_for_evens, range(9), workers=1)) == [n * n for n in range(9)]
    assert list(ordered_map(slow_for_evens, [], workers=2)) == []


def test_no_more_than_workers_items_are_drawn_ahead_of_the_consumer() -> None:
    drawn: list[int] = []
    lock = threading.Lock()

    def source() -> Iterator[int]:
        for n in range(10):
            with lock:
                drawn.append(n)
            yield n

    results = ordered_map(lambda n: n, source(), workers=2)
    for expected, value in enumerate(results):
        assert value == expected
        time.sleep(0.01)  # let the workers run ahead if they could
        with lock:
            # The one being consumed and at most one more made or being made.
            assert len(drawn) <= expected + 2


def test_runs_calls_at_the_same_time() -> None:
    inside = 0
    most = 0
    lock = threading.Lock()

    def step(n: int) -> int:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return n

    assert list(ordered_map(step, range(6), workers=2)) == list(range(6))
    assert most == 2


def test_an_error_in_a_step_reaches_the_consumer() -> None:
    def step(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n

    seen: list[int] = []
    with pytest.raises(ValueError, match="three"):
        for value in ordered_map(step, range(6), workers=2):
            seen.append(value)
    assert seen == [0, 1, 2]
