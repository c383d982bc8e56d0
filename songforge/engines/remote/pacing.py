"""Slowing down when the upstream says so, and stopping when it is broken.

``Pacer`` is additive-increase / multiplicative-decrease on the number of calls
in flight: a rate-limit answer halves the allowance and holds every new call
until the upstream's Retry-After (or a back-off) has passed; each success
gives one slot back. Retries wait on the same gate, so a 429 never turns into
a retry storm.

``CircuitBreaker`` counts consecutive failed tasks; past the threshold (or at
once for a refused key) the model is taken off-line (no claims, not listed as
live) until a cheap probe of the upstream succeeds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


class Pacer:
    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self.allowed = float(max_concurrency)
        self.in_flight = 0
        self.not_before = 0.0
        self._changed = asyncio.Condition()

    async def acquire(self, deadline: float) -> None:
        """Wait for a slot (and for any rate-limit pause) or raise TimeoutError at ``deadline``."""
        async with self._changed:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    raise TimeoutError
                if now >= self.not_before and self.in_flight < max(1, int(self.allowed)):
                    self.in_flight += 1
                    return
                wake = min(deadline, self.not_before) if now < self.not_before else deadline
                try:
                    await asyncio.wait_for(self._changed.wait(), max(0.01, wake - now))
                except TimeoutError:
                    continue

    async def release(self, *, rate_limited: bool, retry_after: float | None = None) -> None:
        async with self._changed:
            self.in_flight -= 1
            if rate_limited:
                self.allowed = max(1.0, self.allowed / 2)
                pause = retry_after if retry_after is not None else 2.0
                self.not_before = max(self.not_before, time.monotonic() + pause)
            else:
                self.allowed = min(float(self.max_concurrency), self.allowed + 1)
            self._changed.notify_all()


@dataclass
class CircuitBreaker:
    threshold: int
    failures: int = 0
    open_since: float | None = None
    reason: str = ""
    opened: int = field(default=0)

    @property
    def is_open(self) -> bool:
        return self.open_since is not None

    def record_success(self) -> None:
        self.failures = 0

    def record_failure(self, reason: str, *, trip: bool = False) -> bool:
        """Count a failed task; True when this failure opened the circuit."""
        self.failures += 1
        if self.is_open or (not trip and self.failures < self.threshold):
            return False
        self.open_since = time.monotonic()
        self.reason = reason
        self.opened += 1
        return True

    def close(self) -> None:
        self.open_since = None
        self.failures = 0
        self.reason = ""
