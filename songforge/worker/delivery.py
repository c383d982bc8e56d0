"""The delivery step: an engine's audio becomes the task's files and output facts.

Engines return audio at their native rate; here, once, it is resampled to the
requested rate and encoded in the requested container (MP3 by the contract's
rules, or 16-bit WAV/FLAC), stems in the same format, and the timed lyrics as
JSON and an LRC file. Every file is read back before anything is stored, so the
output never claims what the file is not. Storing goes through the one storage
port under the task's prefix (``storage/task_files.py``), so retention and the
signed links cover every file.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import soundfile

from songforge.audio.encode import encode_output
from songforge.audio.mp3 import EncodedAudio
from songforge.audio.mp3_frames import read_mp3_info
from songforge.audio.output_format import LOSSLESS_BIT_DEPTH, OutputFormat
from songforge.engines.base import STEM_NAMES, AudioResult, GenerationError, TimedLine
from songforge.storage.base import Storage
from songforge.storage.task_files import lrc_key, song_key, stem_key
from songforge.task_input import TaskInput
from songforge.timed_lyrics import enhanced_lrc, lyrics_json


def check_encoding(encoded: EncodedAudio, output: OutputFormat) -> None:
    """Read the file back and make sure it is what the output will claim."""
    plan = output.mp3_plan
    if plan is None:
        _check_lossless(encoded, output)
        return
    info = read_mp3_info(encoded.data)
    if info.sample_rate != plan.sample_rate:
        raise GenerationError(f"encoder wrote {info.sample_rate} Hz, expected {output.sample_rate}")
    if plan.mode == "cbr" and info.bitrates_kbps != {plan.kbps}:
        raise GenerationError(f"encoder wrote {sorted(info.bitrates_kbps)} kbps, not {plan.kbps}")
    xing = info.xing
    if xing is None or xing.frames != info.frames or xing.bytes != len(encoded.data):
        # Players would disagree about the song's length (issue 9, point 8).
        raise GenerationError("the MP3's Xing/Info header does not describe the file")


def _check_lossless(encoded: EncodedAudio, output: OutputFormat) -> None:
    try:
        info = soundfile.info(io.BytesIO(encoded.data))
    except (soundfile.LibsndfileError, RuntimeError) as exc:
        raise GenerationError(f"the {output.container} file does not decode") from exc
    if str(info.format).lower() != output.container:
        raise GenerationError(f"encoder wrote {info.format}, not {output.container}")
    if int(info.samplerate) != output.sample_rate:
        raise GenerationError(f"encoder wrote {info.samplerate} Hz, expected {output.sample_rate}")
    if info.subtype != f"PCM_{LOSSLESS_BIT_DEPTH}":
        raise GenerationError(f"encoder wrote {info.subtype}, not {LOSSLESS_BIT_DEPTH}-bit PCM")
    # duration_seconds is rounded to the millisecond.
    if abs(int(info.frames) / output.sample_rate - encoded.duration_seconds) > 0.001:
        raise GenerationError("the lossless file's length is not the song's")


@dataclass(frozen=True)
class Delivery:
    """Everything one finished task stores, checked and ready."""

    song: EncodedAudio
    stems: Mapping[str, EncodedAudio] = field(default_factory=dict)
    lyrics: tuple[TimedLine, ...] | None = None

    def lrc(self) -> bytes | None:
        if self.lyrics is None:
            return None
        text = enhanced_lrc(self.lyrics, length_seconds=self.song.duration_seconds)
        return text.encode("utf-8")


def _timed_lyrics(task: TaskInput, result: AudioResult) -> tuple[TimedLine, ...] | None:
    if not task.lyrics_timing:
        return None
    if result.lyrics is not None:
        return tuple(result.lyrics)
    if task.instrumental or not task.lyrics.strip():
        return ()  # nothing is sung: no lines
    raise GenerationError(f"{result.engine} did not report when the lyrics are sung")


def prepare_delivery(task: TaskInput, result: AudioResult) -> Delivery:
    """Encode and check the song and what else the task asked for (CPU-bound)."""
    output = task.output
    song = encode_output(result.samples, result.sample_rate, output)
    check_encoding(song, output)
    stems: dict[str, EncodedAudio] = {}
    if task.stems:
        missing = [name for name in STEM_NAMES if name not in result.stems]
        if missing:
            raise GenerationError(f"{result.engine} returned no {' or '.join(missing)} stem")
        for name in STEM_NAMES:
            stems[name] = encode_output(result.stems[name], result.sample_rate, output)
            check_encoding(stems[name], output)
    return Delivery(song=song, stems=stems, lyrics=_timed_lyrics(task, result))


def store_delivery(
    storage: Storage, task_id: str, attempt: int, output: OutputFormat, delivery: Delivery
) -> list[str]:
    """Save every file of the delivery; returns their keys, the song's first."""
    key = song_key(task_id, attempt, output)
    keys = [key]
    storage.save(key, delivery.song.data)
    for name, stem in delivery.stems.items():
        keys.append(stem_key(key, name))
        storage.save(keys[-1], stem.data)
    lrc = delivery.lrc()
    if lrc is not None:
        keys.append(lrc_key(key))
        storage.save(keys[-1], lrc)
    return keys


def output_facts(
    delivery: Delivery, engine_name: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The task's stored ``output`` (links are added when it is viewed).

    For an MP3 without extensions: exactly the seed's fields, in its order.
    """
    song = delivery.song
    facts: dict[str, Any] = {
        "format": song.format,
        "duration_seconds": song.duration_seconds,
        "sample_rate": song.sample_rate,
    }
    if song.bit_depth is not None:
        facts["bit_depth"] = song.bit_depth
    else:
        facts["bitrate"] = song.bitrate
        facts["bitrate_mode"] = song.bitrate_mode
    facts.update(
        {
            "channels": song.channels,
            "size_bytes": len(song.data),
            "sha256": hashlib.sha256(song.data).hexdigest(),
            "engine": engine_name,
            **(extra or {}),
        }
    )
    if delivery.lyrics is not None:
        facts["lyrics"] = lyrics_json(delivery.lyrics)
    if delivery.stems:
        # The view turns the names into signed links (api/task_view.py).
        facts["stems"] = list(delivery.stems)
    return facts
