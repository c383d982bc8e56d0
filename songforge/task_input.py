"""One typed task input, and its one encode/decode pair with the stored JSON.

The API validates a create body into a ``TaskInput`` (``api/music_request.py``),
stores ``to_stored()`` in the task row, and shows that same JSON as the task's
``input``; the worker reads the row back with ``from_stored`` and never reads a
key of the dict itself. The stored form of a request without the issue-14
extensions is exactly the seed's (model, prompt, lyrics, bitrate, sample_rate,
seed, duration, in that order): extensions appear only when they differ from
their default, so old answers stay byte for byte and rows written before the
extensions existed decode unchanged (docs/decisions/0010-output-extensions.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from songforge.audio.output_format import (
    CONTAINERS,
    DEFAULT_BITRATE,
    DEFAULT_CONTAINER,
    DEFAULT_SAMPLE_RATE,
    Container,
    OutputFormat,
)
from songforge.engines.base import GenerationRequest

# The optional switches of issue 14, in the order they are stored and documented.
SWITCHES = ("instrumental", "stems", "lyrics_timing")


def default_seed(prompt: str, lyrics: str) -> int:
    """The same request without a seed makes the same song."""
    # surrogatepass: validation refuses lone surrogates, but this must never raise.
    digest = hashlib.sha256(f"{prompt}\x00{lyrics}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:4], "big")


@dataclass(frozen=True)
class TaskInput:
    """A validated create request: what to make, and which files to deliver."""

    model: str
    prompt: str
    lyrics: str = ""
    seed: int = 0
    # Upper bound on the song length in seconds, when the user gave one.
    duration: float | None = None
    output: OutputFormat = field(default_factory=OutputFormat)
    # No voice even when lyrics are given.
    instrumental: bool = False
    # Also deliver the lead vocal and the instrumental as files.
    stems: bool = False
    # Also deliver when each lyric line and word is sung (JSON and an LRC file).
    lyrics_timing: bool = False

    @property
    def extensions(self) -> frozenset[str]:
        """The catalog features this input needs (``catalog.FEATURES``)."""
        wanted = {name for name in SWITCHES if getattr(self, name)}
        if self.output.lossless:
            wanted.add(self.output.container)
        return frozenset(wanted)

    def generation_request(self) -> GenerationRequest:
        """What the engine is asked for. Engines render at their native rate; the
        delivery step resamples to ``output.sample_rate`` once."""
        return GenerationRequest(
            prompt=self.prompt,
            lyrics=self.lyrics,
            seed=self.seed,
            duration=self.duration,
            sample_rate=self.output.sample_rate,
            instrumental=self.instrumental,
            stems=self.stems,
            lyrics_timing=self.lyrics_timing,
        )

    def to_stored(self) -> dict[str, Any]:
        """The JSON kept in the task row and shown as the task's ``input``."""
        stored: dict[str, Any] = {
            "model": self.model,
            "prompt": self.prompt,
            "lyrics": self.lyrics,
        }
        if self.output.container != DEFAULT_CONTAINER:
            stored["format"] = self.output.container
        if self.output.bitrate is not None:
            stored["bitrate"] = self.output.bitrate
        stored["sample_rate"] = self.output.sample_rate
        stored["seed"] = self.seed
        stored["duration"] = self.duration
        for name in SWITCHES:
            if getattr(self, name):
                stored[name] = True
        return stored

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> TaskInput:
        """Read a task row's input back, from any version of the service.

        Rows are trusted (validated when created) but may predate fields: a
        missing field takes the default the API gave it at the time.
        """
        prompt = str(stored["prompt"])
        lyrics = str(stored.get("lyrics") or "")
        container = stored.get("format") or DEFAULT_CONTAINER
        if container not in CONTAINERS:
            raise ValueError(f"stored task input has an unknown format {container!r}")
        container = cast(Container, container)
        bitrate = stored.get("bitrate")
        if container == "mp3":
            bitrate = int(bitrate) if bitrate is not None else DEFAULT_BITRATE
        seed = stored.get("seed")
        duration = stored.get("duration")
        return cls(
            # The row's own ``model`` column is what the worker goes by.
            model=str(stored.get("model") or ""),
            prompt=prompt,
            lyrics=lyrics,
            seed=int(seed) if seed is not None else default_seed(prompt, lyrics),
            duration=float(duration) if duration is not None else None,
            output=OutputFormat(
                container=container,
                sample_rate=int(stored.get("sample_rate") or DEFAULT_SAMPLE_RATE),
                bitrate=bitrate if container == "mp3" else None,
            ),
            instrumental=bool(stored.get("instrumental", False)),
            stems=bool(stored.get("stems", False)),
            lyrics_timing=bool(stored.get("lyrics_timing", False)),
        )
