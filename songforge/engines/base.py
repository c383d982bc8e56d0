"""The small protocol every engine implements, and the values that cross it.

Engines know nothing about HTTP, credits or storage: the worker hands them a
``GenerationRequest`` and a progress callback and gets an ``AudioResult`` back.
Encoding to the requested MP3 format happens after, in ``songforge.audio``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

# stage is a short word shown to the user ("composing", "singing", "mixing"...);
# fraction is the engine's own progress in [0, 1].
ProgressCallback = Callable[[str, float], None]


@dataclass(frozen=True)
class TimedWord:
    """One sung word and when it is heard in the delivered song, in seconds."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class TimedLine:
    """One lyric line as sung: its words in order, and the span they cover."""

    text: str
    start: float
    end: float
    words: tuple[TimedWord, ...]


# Names of the separate renders an engine may return next to the mix (issue 14).
STEM_NAMES = ("vocals", "instrumental")


@dataclass(frozen=True)
class GenerationRequest:
    """What an engine is asked to make. Already validated by the API."""

    prompt: str
    lyrics: str = ""
    seed: int = 0
    # Upper bound on the song length in seconds, when the user gave one.
    duration: float | None = None
    # The rate the song will be delivered at; engines may render at their native
    # rate instead and let the encoder resample.
    sample_rate: int = 44100
    # No voice even when lyrics are given (MiniMax's ``is_instrumental``).
    instrumental: bool = False
    # Also return the lead vocal and the band apart (``AudioResult.stems``).
    stems: bool = False
    # Also return when each lyric line and word is sung (``AudioResult.lyrics``).
    lyrics_timing: bool = False


@dataclass
class AudioResult:
    """Rendered audio: float32 samples in [-1, 1], shape (frames, channels)."""

    samples: npt.NDArray[np.float32]
    sample_rate: int
    # Which backend made it, shown to the user as ``output.engine``.
    engine: str
    # Free-form facts the engine wants to report (tempo, key, sections...).
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # When asked: "vocals" and "instrumental" renders (names in STEM_NAMES), same
    # sample rate and length as ``samples``; mixed they give the song.
    stems: Mapping[str, npt.NDArray[np.float32]] = field(default_factory=dict)
    # When asked: the sung lyric lines with word timings, in the song's time.
    lyrics: tuple[TimedLine, ...] | None = None

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration_seconds(self) -> float:
        return float(self.samples.shape[0]) / float(self.sample_rate)


class EngineUnavailable(Exception):
    """The engine cannot run here (missing weights, missing package...).

    The message is shown to operators and the model is not listed as live.
    """


class GenerationError(Exception):
    """The engine could not make this song; the task fails with this message.

    ``retryable`` says whether another attempt might succeed (out of memory, a
    transient device error) or not (the input itself cannot be rendered).
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@runtime_checkable
class Engine(Protocol):
    """One loaded model. ``load`` is called once per worker process."""

    name: str

    def load(self) -> None: ...

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult: ...


@runtime_checkable
class PlansLength(Protocol):
    """An engine that can say how long a song will be before making it (for the ETA)."""

    def planned_seconds(self, request: GenerationRequest) -> float | None: ...


# An engine family is registered as a factory taking the catalog entry's
# ``options`` mapping. The factory must be cheap and must not load weights;
# it may raise EngineUnavailable when the options point at nothing usable.
EngineFactory = Callable[[Mapping[str, Any]], Engine]


@runtime_checkable
class BatchEngine(Engine, Protocol):
    """An engine that renders several songs at once faster than one by one.

    The worker claims up to ``max_batch`` tasks of the model and hands them over
    together; results come back in the order of the requests.
    """

    max_batch: int

    def generate_many(
        self, requests: Sequence[GenerationRequest], progress: ProgressCallback
    ) -> list[AudioResult]: ...
