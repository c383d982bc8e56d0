"""The delivery step: one resampling, the requested container, stems, timed lyrics."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile

from songforge.audio.mp3_frames import read_mp3_info
from songforge.audio.output_format import OutputFormat
from songforge.engines.base import AudioResult, GenerationError
from songforge.storage.local import LocalStorage
from songforge.task_input import TaskInput
from songforge.worker.delivery import output_facts, prepare_delivery, store_delivery
from tests.fakes import ExtensionsEngine

SEED_OUTPUT_FIELDS = [
    "format",
    "duration_seconds",
    "sample_rate",
    "bitrate",
    "bitrate_mode",
    "channels",
    "size_bytes",
    "sha256",
    "engine",
]
LYRICS = "[Verse]\nHello bright world\nsing it again"


def _render(task: TaskInput) -> AudioResult:
    return ExtensionsEngine().generate(task.generation_request(), lambda s, f: None)


def test_an_mp3_without_extensions_has_exactly_the_seeds_output() -> None:
    task = TaskInput(model="m", prompt="p", lyrics=LYRICS, seed=1)
    delivery = prepare_delivery(task, _render(task))
    facts = output_facts(delivery, "eng")
    assert list(facts) == SEED_OUTPUT_FIELDS
    info = read_mp3_info(delivery.song.data)
    # Rendered at 48 kHz, delivered at the requested 44.1 kHz.
    assert info.sample_rate == 44100 and facts["sample_rate"] == 44100
    assert facts["duration_seconds"] == 2.0
    assert delivery.stems == {} and delivery.lrc() is None


@pytest.mark.parametrize("container", ["wav", "flac"])
def test_lossless_song_and_stems_and_lrc_are_stored_under_the_task(
    tmp_path: Path, container: str
) -> None:
    output = OutputFormat(container=container, sample_rate=24000, bitrate=None)  # type: ignore[arg-type]
    task = TaskInput(
        model="m", prompt="p", lyrics=LYRICS, seed=1, output=output, stems=True, lyrics_timing=True
    )
    delivery = prepare_delivery(task, _render(task))
    storage = LocalStorage(tmp_path)
    keys = store_delivery(storage, "tsk_1", 2, output, delivery)
    assert keys == [
        f"tsk_1/attempt-2.{container}",
        f"tsk_1/attempt-2-vocals.{container}",
        f"tsk_1/attempt-2-instrumental.{container}",
        "tsk_1/attempt-2.lrc",
    ]
    decoded = {}
    for key in keys[:3]:
        info = soundfile.info(io.BytesIO(storage.read(key)))
        assert (info.format, info.subtype) == (container.upper(), "PCM_16")
        assert (info.samplerate, info.channels, info.frames) == (24000, 2, 48000)
        decoded[key] = soundfile.read(io.BytesIO(storage.read(key)), dtype="float32")[0]
    song, vocals, band = decoded.values()
    # The stems are the song's parts: mixed, they give the song (within rounding).
    assert np.max(np.abs(vocals + band - song)) < 1e-3
    assert np.abs(vocals).max() > 0.1 and np.abs(band).max() > 0.1

    facts = output_facts(delivery, "eng")
    assert facts["format"] == container and facts["bit_depth"] == 16
    assert "bitrate" not in facts and "bitrate_mode" not in facts
    assert facts["stems"] == ["vocals", "instrumental"]
    lines = facts["lyrics"]["lines"]
    assert [line["text"] for line in lines] == ["Hello bright world", "sing it again"]
    assert lines[0]["words"][0] == {"text": "Hello", "start": 0.1, "end": 0.3}
    lrc = storage.read(keys[3]).decode()
    assert "[00:00.10]<00:00.10>Hello <00:00.35>bright <00:00.60>world <00:00.80>" in lrc


def test_an_instrumental_with_timing_asked_has_no_lines() -> None:
    task = TaskInput(model="m", prompt="p", lyrics=LYRICS, instrumental=True, lyrics_timing=True)
    delivery = prepare_delivery(task, _render(task))
    assert output_facts(delivery, "eng")["lyrics"] == {"lines": []}


def test_an_engine_that_leaves_out_what_was_asked_fails_the_song() -> None:
    task = TaskInput(model="m", prompt="p", lyrics=LYRICS, stems=True, lyrics_timing=True)
    result = _render(task)
    bare = AudioResult(samples=result.samples, sample_rate=result.sample_rate, engine="bare")
    with pytest.raises(GenerationError, match="vocals or instrumental stem"):
        prepare_delivery(task, bare)
    timing_only = TaskInput(model="m", prompt="p", lyrics=LYRICS, lyrics_timing=True)
    with pytest.raises(GenerationError, match="did not report when the lyrics are sung"):
        prepare_delivery(timing_only, bare)
