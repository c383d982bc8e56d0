"""What a worker expects of a task before it starts: the prior of its ETA.

- The song's planned length: from the engine if it can say (the composer
  composes the score first, ~0.1 s), else the request's ``duration``, else the
  mean length of the model's recent songs here.
- Engine throughput (seconds of work per second of song): measured by this
  worker on its own previous songs of the model; before its first, from the
  model's recent runs in the database (which include encoding); before any,
  the catalog's typical run time stands in for the whole run.
- Encoding throughput: measured on this worker's previous encodes in the same
  output format; before the first, by encoding a second of noise.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from songforge.audio.encode import encode_output
from songforge.audio.mp3 import lame_version
from songforge.audio.output_format import OutputFormat
from songforge.db.database import Database
from songforge.engines.base import Engine, GenerationRequest, PlansLength
from songforge.services.eta import recent_runs
from songforge.services.remaining_time import RunPlan

log = logging.getLogger("songforge.worker")

# How much a new measurement moves the remembered throughput.
SMOOTHING = 0.5
# The calibration encodes 2 s and 0.5 s: 1.5 s of difference.
CALIBRATION_SECONDS = 1.5


class Throughput:
    """Seconds of work per second of song, measured by this worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generate: dict[str, float] = {}
        self._encode: dict[OutputFormat, float] = {}
        # Rates from a calibration encode, replaced by the first real measurement.
        self._calibrated: set[OutputFormat] = set()

    def generate_rate(self, model: str) -> float | None:
        with self._lock:
            return self._generate.get(model)

    def record_generate(self, model: str, seconds: float, audio_seconds: float) -> None:
        if audio_seconds > 0:
            with self._lock:
                self._generate[model] = _smooth(self._generate.get(model), seconds / audio_seconds)

    def record_encode(self, key: OutputFormat, seconds: float, audio_seconds: float) -> None:
        if audio_seconds > 0:
            with self._lock:
                old = None if key in self._calibrated else self._encode.get(key)
                self._calibrated.discard(key)
                self._encode[key] = _smooth(old, seconds / audio_seconds)

    def encode_rate(self, output: OutputFormat) -> float:
        with self._lock:
            known = self._encode.get(output)
        if known is not None:
            return known
        rate = _calibrate(output)
        with self._lock:
            if output not in self._encode:
                self._calibrated.add(output)
            return self._encode.setdefault(output, rate)


def _calibrate(output: OutputFormat) -> float:
    """Encoding seconds per second of (stereo noise) audio, without the fixed costs:
    the difference between a long and a short encode."""
    lame_version()  # probed once per process; not part of any song's encode
    sample_rate = output.sample_rate
    rng = np.random.default_rng(0)
    noise = rng.uniform(-0.3, 0.3, (int(2 * sample_rate), 2)).astype(np.float32)
    timings = []
    for frames in (sample_rate // 2, 2 * sample_rate):
        start = time.perf_counter()
        encode_output(noise[:frames], sample_rate, output)
        timings.append(time.perf_counter() - start)
    return max(timings[1] - timings[0], 0.0) / CALIBRATION_SECONDS


def _smooth(old: float | None, new: float) -> float:
    return new if old is None else SMOOTHING * new + (1 - SMOOTHING) * old


def planned_audio_seconds(engine: Engine, request: GenerationRequest) -> float | None:
    if isinstance(engine, PlansLength):
        try:
            return engine.planned_seconds(request)
        except Exception:
            # The ETA is a courtesy: never fail a song over it.
            log.exception("engine %s could not plan the song's length", engine.name)
    if request.duration is not None and request.duration > 0:
        return float(request.duration)
    return None


def plan_run(
    db: Database,
    throughput: Throughput,
    *,
    model: str,
    engine: Engine,
    request: GenerationRequest,
    output: OutputFormat,
    typical_run_seconds: float,
) -> RunPlan:
    audio = planned_audio_seconds(engine, request)
    with db.read() as conn:
        history = recent_runs(conn, model)
    if audio is None and history is not None:
        audio = history.audio_seconds
    encode_rate = throughput.encode_rate(output)
    encode_seconds = (audio or 0.0) * encode_rate
    rate = throughput.generate_rate(model)
    if rate is not None and audio is not None:
        generate = rate * audio
    elif history is not None and history.seconds_per_audio_second and audio is not None:
        generate = history.seconds_per_audio_second * audio - encode_seconds
    elif history is not None:
        generate = history.run_seconds - encode_seconds
    else:
        generate = typical_run_seconds - encode_seconds
    return RunPlan(
        audio_seconds=audio,
        generate_seconds=max(1.0, generate),
        encode_seconds_per_audio_second=encode_rate,
    )
