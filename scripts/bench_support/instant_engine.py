"""An engine that returns a short tone at once, so the API benchmark measures the
HTTP service and not music generation.

Named in a catalog TOML as ``engine = "instant_engine:create_engine"`` with this
directory on PYTHONPATH (scripts/bench_api.py does both). With the option
``hold_seconds`` it instead holds each task that long (bounded), so that the
tasks behind it stay queued.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from songforge.engines.base import AudioResult, GenerationRequest, ProgressCallback

# Short enough that encoding it costs the worker next to nothing.
CLIP_SECONDS = 0.5


class InstantEngine:
    name = "instant"

    def __init__(self, seconds: float, hold_seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.hold_seconds = hold_seconds

    def load(self) -> None:
        pass

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        deadline = time.monotonic() + self.hold_seconds
        while time.monotonic() < deadline:
            # Reporting progress lets the worker notice a cancel or a lost lease.
            progress("holding", 0.0)
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        rate = request.sample_rate
        t = np.arange(int(rate * self.seconds), dtype=np.float32) / rate
        samples = (0.1 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        progress("instant", 1.0)
        return AudioResult(samples=samples, sample_rate=rate, engine=self.name)


def create_engine(options: Mapping[str, Any]) -> InstantEngine:
    return InstantEngine(
        float(options.get("seconds", CLIP_SECONDS)), float(options.get("hold_seconds", 0.0))
    )
