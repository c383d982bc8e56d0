"""The ETA a client sees while a long song is made after short ones (issue 9, point 9).

The reported case: a 105 s song showed "1 s left" for about 20 s, because the
ETA was the mean run time of the model's recent (shorter) songs minus the time
spent. Here a paced fake engine (real worker, real HTTP, SQLite) first makes
two 20 s songs, then a 105 s one at the same pace; the polled ``eta_seconds``
must stay within 30 % of the real remaining time (plus the API's whole-second
rounding) over the second half of the long song.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from songforge.engines.base import AudioResult, GenerationRequest, ProgressCallback

# Engine seconds per second of song: the 105 s song takes ~7 s.
PACE = 0.065
STEP = 0.05


class PacedEngine:
    """Sleeps in proportion to the song's length, reporting progress as it goes."""

    name = "test-paced/1"

    def load(self) -> None:
        pass

    def planned_seconds(self, request: GenerationRequest) -> float:
        return float(request.duration or 20.0)

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        seconds = self.planned_seconds(request)
        total = seconds * PACE
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < total:
            fraction = elapsed / total
            progress("singing" if fraction < 0.6 else "mixing", fraction)
            time.sleep(STEP)
        progress("mixing", 1.0)
        # Silence encodes fastest: the test is about the engine's part.
        samples = np.zeros(int(seconds * request.sample_rate), dtype=np.float32)
        return AudioResult(samples=samples, sample_rate=request.sample_rate, engine=self.name)


def _make(client: Any, duration: float) -> str:
    body = {
        "model": "minimax-music",
        "prompt": "paced",
        "duration": duration,
        "bitrate": 32000,
        "sample_rate": 16000,
    }
    answer = client.post("/api/v1/audio/music", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["data"]["task_id"])


# Wall-clock accuracy on a shared machine: in the full suite, threads left by earlier tests
# slowed delivery enough to fail it once (engine part exact, delivery 2.7 s late). The ETA's
# logic runs by default on a controlled clock (tests/services/test_remaining_time.py); this
# end-to-end check runs with `scripts/test --slow`, and scripts/bench_eta measures the real one.
@pytest.mark.slow
def test_long_song_after_short_ones_has_an_honest_eta(server_factory: Any) -> None:
    server = server_factory(engines={"minimax-music": PacedEngine()}, heartbeat_seconds=0.25)
    with server.client() as client:
        for _ in range(2):
            server.wait_for(_make(client, 20.0))
        task_id = _make(client, 105.0)
        seen: list[tuple[float, int | None, str]] = []
        while True:
            data = client.get(f"/api/v1/tasks/{task_id}").json()["data"]
            now = time.monotonic()
            if data["status"] != "IN_PROGRESS":
                finished = now
                break
            if data["stage"] != "queued":
                seen.append((now, data["eta_seconds"], data["stage"]))
            time.sleep(0.1)
    assert data["status"] == "completed"
    started = seen[0][0]
    half = started + (finished - started) / 2
    wrong = [
        f"{t - started:.1f}s in ({stage}): shown {eta}, really {finished - t:.1f}"
        for t, eta, stage in seen
        if t >= half and (eta is None or abs(eta - (finished - t)) > 0.3 * (finished - t) + 1.0)
    ]
    assert wrong == [], wrong
