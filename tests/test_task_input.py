"""The one typed task input and its stored JSON: round trips, old rows, the seed's shape."""

from __future__ import annotations

import json

import pytest

from songforge.audio.output_format import OutputFormat, mp3_format
from songforge.task_input import TaskInput, default_seed

# A row as every version before issue 14 wrote it (and as a request without the
# extensions is still stored): exactly these keys, in this order.
SEED_ROW = {
    "model": "minimax-music",
    "prompt": "calm piano",
    "lyrics": "[Verse]\nla la",
    "bitrate": 60000,
    "sample_rate": 24000,
    "seed": 7,
    "duration": 30.0,
}


def test_a_seed_row_decodes_and_encodes_back_byte_for_byte() -> None:
    task = TaskInput.from_stored(SEED_ROW)
    assert task.output == mp3_format(60000, 24000)
    assert task.output.mp3_plan is not None and task.output.mp3_plan.mode == "abr"
    assert (task.seed, task.duration, task.extensions) == (7, 30.0, frozenset())
    assert json.dumps(task.to_stored()) == json.dumps(SEED_ROW)


def test_rows_missing_fields_take_the_defaults_of_their_time() -> None:
    task = TaskInput.from_stored({"model": "m", "prompt": "p"})
    assert task.lyrics == "" and task.duration is None
    assert task.output == OutputFormat()  # mp3, 256 kbps, 44.1 kHz
    assert task.seed == default_seed("p", "")


def test_extensions_are_stored_only_when_asked() -> None:
    task = TaskInput(
        model="m",
        prompt="p",
        lyrics="words",
        seed=1,
        output=OutputFormat(container="flac", sample_rate=32000, bitrate=None),
        stems=True,
        lyrics_timing=True,
    )
    stored = task.to_stored()
    assert list(stored) == [
        "model",
        "prompt",
        "lyrics",
        "format",
        "sample_rate",
        "seed",
        "duration",
        "stems",
        "lyrics_timing",
    ]
    assert TaskInput.from_stored(json.loads(json.dumps(stored))) == task
    assert task.extensions == {"flac", "stems", "lyrics_timing"}


def test_the_engine_request_carries_the_switches() -> None:
    task = TaskInput(model="m", prompt="p", lyrics="la", seed=3, instrumental=True)
    request = task.generation_request()
    assert request.instrumental and not request.stems and not request.lyrics_timing
    assert request.sample_rate == 44100 and request.lyrics == "la" and request.seed == 3


def test_output_format_refuses_what_does_not_apply() -> None:
    with pytest.raises(ValueError, match="bitrate"):
        OutputFormat(container="wav", sample_rate=44100, bitrate=128000)
    with pytest.raises(ValueError, match="bitrate"):
        OutputFormat(container="mp3", sample_rate=44100, bitrate=None)
    with pytest.raises(ValueError, match="sample_rate"):
        OutputFormat(container="flac", sample_rate=48000, bitrate=None)
    with pytest.raises(ValueError, match="unknown format"):
        TaskInput.from_stored({"model": "m", "prompt": "p", "format": "ogg"})


def test_the_mp3_plan_is_made_once_with_the_format() -> None:
    # 256 kbps does not exist at 24 kHz (MPEG-2): the plan says 160 CBR.
    output = mp3_format(256000, 24000)
    assert output.mp3_plan is not None
    assert (output.mp3_plan.kbps, output.mp3_plan.mode) == (160, "cbr")
    assert OutputFormat(container="wav", sample_rate=16000, bitrate=None).mp3_plan is None
