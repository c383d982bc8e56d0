"""Fake engines for tests (ports, not the product): fast, controllable, deterministic."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from songforge.engines.base import (
    AudioResult,
    EngineUnavailable,
    GenerationError,
    GenerationRequest,
    ProgressCallback,
    TimedLine,
    TimedWord,
)


class ToneEngine:
    """Renders a short seeded chord: real samples, so encoding and metadata are real."""

    name = "test-tone/1"

    def __init__(self, seconds: float = 2.0, delay: float = 0.0, load_seconds: float = 0.0) -> None:
        self.seconds = seconds
        self.delay = delay
        self.load_seconds = load_seconds
        self.calls = 0
        self.gate: threading.Event | None = None

    def load(self) -> None:
        # A slow start-up (weights loading), for tests of what the API does meanwhile.
        time.sleep(self.load_seconds)

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        self.calls += 1
        rate = 44100
        seconds = min(self.seconds, request.duration or self.seconds)
        steps = 10
        for step in range(steps):
            progress("composing", step / steps)
            if self.gate is not None:
                self.gate.wait(30)
            if self.delay:
                time.sleep(self.delay / steps)
        rng = np.random.default_rng(request.seed)
        t = np.arange(int(rate * seconds)) / rate
        base = 220.0 * (1 + float(rng.random()))
        mono = sum(0.2 * np.sin(2 * np.pi * base * ratio * t) for ratio in (1.0, 1.25, 1.5))
        stereo = np.stack([mono, mono], axis=1).astype(np.float32)
        progress("mixing", 1.0)
        return AudioResult(samples=stereo, sample_rate=rate, engine=self.name)


class FailingEngine:
    name = "test-failing/1"

    def __init__(self, retryable: bool = False) -> None:
        self.retryable = retryable
        self.calls = 0

    def load(self) -> None:
        pass

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        self.calls += 1
        raise GenerationError("the fake engine always fails", retryable=self.retryable)


def gated_tone_engine() -> ToneEngine:
    """A tone engine that waits at its gate (an Event) until the test opens it."""
    engine = ToneEngine()
    engine.gate = threading.Event()
    return engine


# Factories for catalog entries that name an engine by import path (worker subprocesses).
def tone_engine(options: Mapping[str, Any]) -> ToneEngine:
    return ToneEngine(
        seconds=float(options.get("seconds", 2.0)),
        delay=float(options.get("delay", 0.0)),
        load_seconds=float(options.get("load_seconds", 0.0)),
    )


def unavailable_engine(options: Mapping[str, Any]) -> ToneEngine:
    """A catalog entry whose engine cannot run here (like a GPU model on a CPU machine)."""
    raise EngineUnavailable("the test's unavailable engine never runs")


class BatchToneEngine(ToneEngine):
    """A tone engine that renders several songs per call (like MiniMax Music 3's fast loop)."""

    name = "test-batch-tone/1"

    def __init__(self, max_batch: int = 3) -> None:
        super().__init__()
        self.max_batch = max_batch
        self.batches: list[int] = []

    def generate_many(
        self, requests: list[GenerationRequest], progress: ProgressCallback
    ) -> list[AudioResult]:
        self.batches.append(len(requests))
        return [self.generate(request, progress) for request in requests]


class ExtensionsEngine:
    """Gives what issue 14 asks of an engine, at a rate no request uses (48 kHz), so
    the delivery step's one resampling is exercised: a "voice" (880 Hz) and a "band"
    (a 220 Hz chord) apart, their mix, and each lyric word timed in turn."""

    name = "test-extensions/1"
    RATE = 48000
    WORD_SECONDS = 0.25

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self.requests: list[GenerationRequest] = []

    def load(self) -> None:
        pass

    def lines(self, lyrics: str) -> tuple[TimedLine, ...]:
        timed, clock = [], 0.1
        for text in (line.strip() for line in lyrics.splitlines()):
            if not text or text.startswith("["):
                continue
            words = []
            for word in text.split():
                words.append(TimedWord(word, clock, clock + self.WORD_SECONDS * 0.8))
                clock += self.WORD_SECONDS
            timed.append(TimedLine(text, words[0].start, words[-1].end, tuple(words)))
        return tuple(timed)

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        self.requests.append(request)
        t = np.arange(int(self.RATE * self.seconds)) / self.RATE
        band = sum(0.15 * np.sin(2 * np.pi * 220.0 * r * t) for r in (1.0, 1.25, 1.5))
        voice = np.zeros_like(t) if request.instrumental else 0.2 * np.sin(2 * np.pi * 880.0 * t)
        stereo = {
            "instrumental": np.stack([band, band], axis=1).astype(np.float32),
            "vocals": np.stack([voice, voice], axis=1).astype(np.float32),
        }
        progress("mixing", 1.0)
        sung = not request.instrumental and bool(request.lyrics.strip())
        return AudioResult(
            samples=stereo["instrumental"] + stereo["vocals"],
            sample_rate=self.RATE,
            engine=self.name,
            stems=stereo if request.stems else {},
            lyrics=(self.lines(request.lyrics) if sung else ()) if request.lyrics_timing else None,
        )
