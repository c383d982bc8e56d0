"""Turn the upstream's file into exactly the file the user asked for.

The upstream's bytes are checked before anything is stored: an MP3 must be a
run of Layer III frames whose length matches its duration, a WAV/FLAC must
decode. When the file already is what the contract's rules ask for (same
sample rate, constant bitrate at the planned rate) it is kept byte for byte:
no decode, no second generation of loss, almost no CPU. Otherwise it is
decoded and encoded again with ``songforge.audio.encode`` (60 kbps ABR is not a
rate MiniMax offers, 256 kbps does not exist at 16/24 kHz, an upstream may
answer at the wrong sample rate, a WAV/FLAC was asked for...). A lossless file is
never made from an upstream's MP3: that would claim a quality the song lost.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile

from songforge.audio.encode import encode_output
from songforge.audio.mp3 import EncodedAudio
from songforge.audio.mp3_frames import Mp3Info, read_mp3_info
from songforge.audio.output_format import OutputFormat
from songforge.engines.remote.errors import UpstreamError, unavailable

# Shortest file we accept as a song: anything shorter is an upstream fault.
MIN_SECONDS = 0.5


@dataclass(frozen=True)
class UpstreamAudio:
    """An upstream's answer, downloaded: the file and what the upstream says it is."""

    data: bytes
    # "mp3", "wav" or "flac" as the upstream declared it; checked, not trusted.
    container: str
    # Free-form facts worth keeping in the task output (seed used, duration...).
    metadata: dict[str, object]


def _mp3_info(data: bytes) -> Mp3Info | None:
    try:
        info = read_mp3_info(data)
    except ValueError:
        return None
    if info.duration_seconds < MIN_SECONDS:
        return None
    if len(info.bitrates_kbps) == 1:
        # Constant bitrate: the frames must account for (nearly) the whole file,
        # which random bytes with a stray sync word never do.
        (kbps,) = info.bitrates_kbps
        expected = info.duration_seconds * kbps * 125
        if not 0.8 * expected <= len(data) <= 1.2 * expected + 16_384:
            return None
    return info


def _not_audio(what: str) -> UpstreamError:
    return unavailable(f"the upstream answered with {what} instead of a song")


def deliverable_audio(audio: UpstreamAudio, output: OutputFormat) -> EncodedAudio:
    """The file to store for a request of ``output`` (CPU-bound: run it off the
    event loop). Raises a retryable UpstreamError when the upstream's file is not
    real audio."""
    if not audio.data:
        raise _not_audio("an empty file")
    plan = output.mp3_plan
    info = _mp3_info(audio.data) if audio.data[:4] not in (b"RIFF", b"fLaC") else None
    if (
        info is not None
        and plan is not None
        and plan.mode == "cbr"
        and info.sample_rate == plan.sample_rate
        and info.bitrates_kbps == frozenset({plan.kbps})
        # Kept byte for byte only with a Xing/Info header that describes the whole file
        # (what every MP3 we serve carries, so players agree on its length); else re-encoded.
        and info.xing is not None
        and info.xing.frames == info.frames
        and info.xing.bytes == len(audio.data)
    ):
        return EncodedAudio(
            data=audio.data,
            sample_rate=info.sample_rate,
            channels=info.channels,
            duration_seconds=round(info.duration_seconds, 3),
            bitrate=plan.kbps * 1000,
            bitrate_mode="cbr",
        )
    if info is None and audio.data[:4] not in (b"RIFF", b"fLaC"):
        raise _not_audio("data that is not audio")
    if info is not None and output.lossless:
        raise unavailable(
            f"the upstream answered with an MP3 where a {output.container} file was asked",
            retryable=False,
        )
    try:
        samples, source_rate = soundfile.read(
            io.BytesIO(audio.data), dtype="float32", always_2d=True
        )
    except (soundfile.LibsndfileError, RuntimeError, ValueError) as exc:
        raise _not_audio("a file that does not decode") from exc
    if samples.shape[0] < MIN_SECONDS * source_rate or not np.isfinite(samples).all():
        raise _not_audio("a file without a song in it")
    return encode_output(samples, int(source_rate), output)
