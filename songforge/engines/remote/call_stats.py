"""Counts of one remote engine's upstream calls, for the operator's metrics.

Each try of the upstream (a generation call and its download) is counted by its
outcome — ``ok`` or the error type it ended with — and its duration goes into a
histogram. The relay worker writes a snapshot of these with its presence row
(services/workers.py), and ``GET /metrics`` serves the live workers' snapshots
(songforge/metrics.py): workers are other processes, often other machines.

Labels carry the engine's name (``family/upstream_model``) and model ids only:
never a key, never a URL.
"""

from __future__ import annotations

import threading
from typing import Any

# Upstream calls take seconds to minutes (a song is generated in each).
LATENCY_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class CallStats:
    """Updated on the relay's event loop, read by the worker's presence thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outcomes: dict[str, int] = {}
        # Per bucket (and one for +Inf): calls that took at most that long.
        self._buckets = [0] * (len(LATENCY_BUCKETS) + 1)
        self._seconds = 0.0

    def record(self, outcome: str, seconds: float) -> None:
        with self._lock:
            self._outcomes[outcome] = self._outcomes.get(outcome, 0) + 1
            index = next(
                (i for i, bound in enumerate(LATENCY_BUCKETS) if seconds <= bound),
                len(LATENCY_BUCKETS),
            )
            self._buckets[index] += 1
            self._seconds += seconds

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready: outcome counts, and the latency histogram's bucket bounds, its
        per-bucket counts (not cumulative; the last one past every bound) and its sum."""
        with self._lock:
            return {
                "outcomes": dict(self._outcomes),
                "bounds": list(LATENCY_BUCKETS),
                "buckets": list(self._buckets),
                "seconds": self._seconds,
            }
