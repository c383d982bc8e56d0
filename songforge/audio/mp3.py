"""MP3 encoding under the contract's rules (api.md, "MP3 rules").

- 32/64/128 kbps at any rate, and 256 kbps at 32/44.1 kHz: constant bitrate.
- 60 kbps is not a legal Layer III bitrate: average bitrate (ABR) aimed at 60.
- 256 kbps at 16/24 kHz exceeds MPEG-2's 160 kbps ceiling: 160 kbps CBR.
- The output sample rate is always the requested one; LAME would otherwise
  pick a lower rate for low bitrates on its own.
- Every file starts with a Xing/Info header and LAME tag (songforge.audio.xing),
  so players agree on its length and can seek in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Literal

import lameenc
import numpy as np
import numpy.typing as npt

from songforge.audio.resample import resample
from songforge.audio.xing import add_xing_header

ALLOWED_BITRATES = (32000, 60000, 64000, 128000, 256000)
ALLOWED_SAMPLE_RATES = (16000, 24000, 32000, 44100)
MPEG2_RATES = (16000, 22050, 24000)
MPEG2_MAX_KBPS = 160

BitrateMode = Literal["cbr", "abr"]


@dataclass(frozen=True)
class EncodingPlan:
    """What will actually be encoded for a requested bitrate and rate."""

    kbps: int
    mode: BitrateMode
    sample_rate: int


@dataclass(frozen=True)
class EncodedAudio:
    """An encoded file and the facts the task's output reports about it."""

    data: bytes
    sample_rate: int
    channels: int
    duration_seconds: float
    # MP3: bits per second really encoded (nominal for CBR, measured for ABR) and the
    # mode. None for lossless files, which report ``bit_depth`` instead.
    bitrate: int | None
    bitrate_mode: BitrateMode | None
    format: str = "mp3"
    bit_depth: int | None = None


def plan_encoding(bitrate: int, sample_rate: int) -> EncodingPlan:
    """Apply the contract's rules to a (validated) bitrate and sample rate."""
    if bitrate not in ALLOWED_BITRATES:
        raise ValueError(f"bitrate {bitrate} is not one of {ALLOWED_BITRATES}")
    if sample_rate not in ALLOWED_SAMPLE_RATES:
        raise ValueError(f"sample_rate {sample_rate} is not one of {ALLOWED_SAMPLE_RATES}")
    kbps = bitrate // 1000
    if bitrate == 60000:
        return EncodingPlan(kbps=60, mode="abr", sample_rate=sample_rate)
    if sample_rate in MPEG2_RATES and kbps > MPEG2_MAX_KBPS:
        kbps = MPEG2_MAX_KBPS
    return EncodingPlan(kbps=kbps, mode="cbr", sample_rate=sample_rate)


# Frames converted to 16-bit PCM and handed to LAME at a time (~1.5 s at 44.1 kHz).
PCM_CHUNK_FRAMES = 65536


def _pcm16_chunks(audio: npt.NDArray[np.float32]) -> Iterator[bytes]:
    """The song as 16-bit PCM, a chunk at a time: converting it whole made about four
    float copies of it at once (~250 MB for a 3-minute stereo song). LAME buffers
    its input, so the MP3 is the same byte for byte."""
    for start in range(0, audio.shape[0], PCM_CHUNK_FRAMES):
        yield _to_pcm16(audio[start : start + PCM_CHUNK_FRAMES])


@cache
def lame_version() -> str:
    """The version string of the LAME inside lameenc ("LAME3.100"), for the LAME tag.

    lameenc does not say, but LAME writes it into the spare bits of its frames:
    a second of silence at a high constant bitrate leaves plenty of them.
    """
    encoder = lameenc.Encoder()
    encoder.set_channels(1)
    encoder.set_in_sample_rate(44100)
    encoder.set_out_sample_rate(44100)
    encoder.set_bit_rate(320)
    probe = bytes(encoder.encode(bytes(2 * 44100))) + bytes(encoder.flush())
    found = re.search(rb"LAME\d\.\d+[a-z]?", probe)
    if found is None:
        raise RuntimeError("cannot tell which LAME lameenc contains")
    return found.group().decode("ascii")


def _to_pcm16(samples: npt.NDArray[np.floating]) -> bytes:
    clipped = np.clip(samples, -1.0, 1.0)
    return np.ascontiguousarray((clipped * 32767.0).round().astype("<i2")).tobytes()


def as_frames(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.float32]:
    """Samples as float32 (frames, channels), at most two channels (what we deliver)."""
    audio = np.asarray(samples, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if audio.shape[1] > 2:
        audio = audio[:, :2]
    return audio


def encode_mp3(
    samples: npt.NDArray[np.float32],
    source_rate: int,
    bitrate: int,
    sample_rate: int,
    *,
    quality: int = 2,
) -> EncodedAudio:
    """Encode float samples (frames,) or (frames, channels) at any rate to MP3 by the
    rules. For standalone use (the composer's command line, tests); the worker's
    delivery step resamples once itself and calls ``encode_planned_mp3``."""
    plan = plan_encoding(bitrate, sample_rate)
    audio = resample(as_frames(samples), source_rate, plan.sample_rate)
    return encode_planned_mp3(audio, plan, quality=quality)


def encode_planned_mp3(
    audio: npt.NDArray[np.float32], plan: EncodingPlan, *, quality: int = 2
) -> EncodedAudio:
    """Encode samples already at ``plan.sample_rate`` (see ``as_frames``); no resampling."""
    if audio.ndim != 2:
        raise ValueError("encode_planned_mp3 takes (frames, channels) samples")
    channels = int(audio.shape[1])

    encoder = lameenc.Encoder()
    encoder.set_channels(channels)
    encoder.set_in_sample_rate(plan.sample_rate)
    encoder.set_out_sample_rate(plan.sample_rate)
    encoder.set_quality(quality)
    if plan.mode == "abr":
        encoder.set_vbr(lameenc.VBR_ABR)
        encoder.set_vbr_mean_bitrate_kbps(plan.kbps)
    else:
        encoder.set_bit_rate(plan.kbps)
    frames = b"".join([*map(encoder.encode, _pcm16_chunks(audio)), encoder.flush()])
    data = add_xing_header(
        frames,
        mode=plan.mode,
        encoder=lame_version(),
        input_samples=int(audio.shape[0]),
        target_kbps=plan.kbps,
        quality=quality,
    )

    duration = audio.shape[0] / plan.sample_rate
    if plan.mode == "abr":
        # The audio frames' rate: the header frame carries no audio.
        measured = round(len(frames) * 8 / duration) if duration > 0 else plan.kbps * 1000
        real_bitrate = measured
    else:
        real_bitrate = plan.kbps * 1000
    return EncodedAudio(
        data=data,
        sample_rate=plan.sample_rate,
        channels=channels,
        duration_seconds=round(duration, 3),
        bitrate=real_bitrate,
        bitrate_mode=plan.mode,
    )
