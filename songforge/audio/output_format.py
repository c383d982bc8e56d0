"""The file a task delivers: container, sample rate and (MP3 only) bitrate.

One value, planned once: the API validates the request into an ``OutputFormat``,
the stored task input carries it (``songforge.task_input``), and the worker's
delivery step (``songforge.audio.delivery``) resamples and encodes by it. The MP3
rules (``songforge.audio.mp3.plan_encoding``) are applied here, at construction,
so every reader sees the same plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES, EncodingPlan, plan_encoding

Container = Literal["mp3", "wav", "flac"]
CONTAINERS: tuple[Container, ...] = ("mp3", "wav", "flac")
LOSSLESS: frozenset[str] = frozenset({"wav", "flac"})
# Lossless files are 16-bit PCM (issue 14): what every player and editor reads.
LOSSLESS_BIT_DEPTH = 16
DEFAULT_CONTAINER: Container = "mp3"
DEFAULT_BITRATE = 256000
DEFAULT_SAMPLE_RATE = 44100

# File name extension and HTTP content type of each container.
EXTENSIONS: dict[Container, str] = {"mp3": "mp3", "wav": "wav", "flac": "flac"}
MEDIA_TYPES: dict[Container, str] = {"mp3": "audio/mpeg", "wav": "audio/wav", "flac": "audio/flac"}


@dataclass(frozen=True)
class OutputFormat:
    """A validated output format; ``mp3_plan`` is the MP3 rules' verdict (MP3 only)."""

    container: Container = DEFAULT_CONTAINER
    sample_rate: int = DEFAULT_SAMPLE_RATE
    # Bits per second asked for; MP3 only (None for the lossless containers).
    bitrate: int | None = DEFAULT_BITRATE
    mp3_plan: EncodingPlan | None = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.container not in CONTAINERS:
            raise ValueError(f"container {self.container!r} is not one of {CONTAINERS}")
        if self.sample_rate not in ALLOWED_SAMPLE_RATES:
            raise ValueError(f"sample_rate {self.sample_rate} is not one of {ALLOWED_SAMPLE_RATES}")
        plan: EncodingPlan | None = None
        if self.container == "mp3":
            if self.bitrate is None or self.bitrate not in ALLOWED_BITRATES:
                raise ValueError(f"bitrate {self.bitrate} is not one of {ALLOWED_BITRATES}")
            plan = plan_encoding(self.bitrate, self.sample_rate)
        elif self.bitrate is not None:
            raise ValueError(f"a bitrate does not apply to {self.container}")
        # Frozen: set the derived field the way dataclasses do for init=False fields.
        object.__setattr__(self, "mp3_plan", plan)

    @property
    def lossless(self) -> bool:
        return self.container in LOSSLESS

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.container]

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.container]

    @property
    def label(self) -> str:
        """Short text for logs and the ETA's throughput table ("mp3 256k 44100 Hz")."""
        if self.mp3_plan is not None:
            return f"mp3 {self.mp3_plan.kbps}k {self.mp3_plan.mode} {self.sample_rate} Hz"
        return f"{self.container} {LOSSLESS_BIT_DEPTH}-bit {self.sample_rate} Hz"


def mp3_format(bitrate: int, sample_rate: int) -> OutputFormat:
    return OutputFormat(container="mp3", sample_rate=sample_rate, bitrate=bitrate)
