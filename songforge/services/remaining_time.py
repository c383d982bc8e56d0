"""How long a running task still needs, as its worker sees it (issue 9, point 9).

The worker knows what the API does not: the song's planned length, which
stage the run is in, when each progress report came, and how fast this machine
generated and encoded its last songs. It turns them into an expected finish
time that it writes with every heartbeat; the API's ``eta_seconds`` is that
time minus now, so it counts down between heartbeats.

Engines' progress fractions are not proportional to time (the composer's
"singing" can take 10 % or 60 % of a run, depending on how much it has sung
before), so the rate is measured per engine stage: the rate of the stage now
running, or, until it has two reports, the slower of the whole run's and the
previous stage's. Before the
engine has said much, the prior (planned length times measured throughput)
carries the estimate; the weight moves to the measured rate as the fraction
grows. A stage that runs past its prediction is never reported as about to end:
it gets at least half as long again as it has been silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# The least a running task is said to need: it is not done until it is done.
MIN_SECONDS = 1.0
# A silent stage is given at least this share of its silence again.
SILENCE_SHARE = 0.5
# Reports closer than this to a stage's start say nothing about its rate.
MIN_SPAN_SECONDS = 0.5


@dataclass(frozen=True)
class RunPlan:
    """What the worker expects when it starts a task."""

    # The song's planned length, if the engine or the request says.
    audio_seconds: float | None
    # Expected engine time (planned length x measured throughput, or recent runs).
    generate_seconds: float
    # Measured MP3 encoding time per second of song at the task's settings.
    encode_seconds_per_audio_second: float


@dataclass
class _Point:
    at: float
    fraction: float


class RemainingTime:
    """Seconds a task still needs, updated from the engine's progress reports."""

    def __init__(self, plan: RunPlan, clock: Callable[[], float] = time.monotonic) -> None:
        self._plan = plan
        self._clock = clock
        self._started = clock()
        self._audio_seconds = plan.audio_seconds
        self._stage: str | None = None
        self._stage_start: _Point | None = None
        self._last = _Point(self._started, 0.0)
        self._first: _Point | None = None
        self._previous_rate: float | None = None
        self._encoding_since: float | None = None

    # ---- what the worker reports ------------------------------------------------------

    def engine_progress(self, stage: str, fraction: float) -> None:
        now = self._clock()
        fraction = max(self._last.fraction, min(1.0, fraction))
        if stage != self._stage:
            if self._stage_start is not None:
                rate = self._rate_between(self._stage_start, _Point(now, fraction))
                if rate is not None:
                    self._previous_rate = rate
            self._stage = stage
            self._stage_start = _Point(now, fraction)
        if self._first is None and fraction > 0:
            self._first = _Point(now, fraction)
        self._last = _Point(now, fraction)

    def encoding(self, audio_seconds: float) -> None:
        """The engine is done; the song really is ``audio_seconds`` long."""
        self._audio_seconds = audio_seconds
        self._encoding_since = self._clock()

    # ---- the estimate -------------------------------------------------------------------

    def seconds(self) -> float:
        now = self._clock()
        encode = self._encode_seconds()
        if self._encoding_since is not None:
            return max(MIN_SECONDS, self._left(encode, now - self._encoding_since))
        return max(MIN_SECONDS, self._generate_left(now) + encode)

    def _encode_seconds(self) -> float:
        audio = self._audio_seconds or 0.0
        return audio * self._plan.encode_seconds_per_audio_second

    @staticmethod
    def _left(expected: float, spent: float) -> float:
        """What is left of ``expected`` after ``spent``; once past it, a share of ``spent``."""
        if spent <= expected:
            return expected - spent
        return SILENCE_SHARE * spent

    def _generate_left(self, now: float) -> float:
        last = self._last
        prior_rate = 1.0 / max(self._plan.generate_seconds, MIN_SECONDS)
        measured = self._measured_rate()
        if measured is None:
            rate = prior_rate
        else:
            # The further the engine has got, the more its own pace counts.
            weight = last.fraction
            rate = weight * measured + (1.0 - weight) * prior_rate
        return self._left((1.0 - last.fraction) / rate, now - last.at)

    def _measured_rate(self) -> float | None:
        """Fraction per second: this stage's; until it has one, the slower of the run's
        and the stage before's (a new stage may report nothing until it ends)."""
        if self._stage_start is not None:
            rate = self._rate_between(self._stage_start, self._last)
            if rate is not None:
                return rate
        overall = self._rate_between(self._first, self._last) if self._first else None
        if overall is not None and self._previous_rate is not None:
            return min(overall, self._previous_rate)
        return overall if overall is not None else self._previous_rate

    @staticmethod
    def _rate_between(start: _Point, end: _Point) -> float | None:
        span = end.at - start.at
        gained = end.fraction - start.fraction
        if span < MIN_SPAN_SECONDS or gained <= 0:
            return None
        return gained / span
