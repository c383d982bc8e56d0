from __future__ import annotations

import pytest

from songforge.composer.prompt import parse_key, parse_prompt


@pytest.mark.parametrize(
    ("prompt", "genre"),
    [
        ("An energetic electronic dance track with pulsing synths and driving bass", "edm"),
        ("A sad, slow piano ballad with a gentle male vocal", "ballad"),
        ("Upbeat rock song with distorted electric guitars and loud drums", "rock"),
        ("Calm ambient background music for a meditation video, soft pads, no drums", "ambient"),
        ("Country song with acoustic guitar and a warm story-telling vocal", "country"),
        ("Laid-back hip hop beat with deep bass, vinyl crackle and a confident vocal", "hiphop"),
        ("smooth jazz with saxophone", "jazz"),
        ("Genre: reggae, happy", "reggae"),
    ],
)
def test_genre_from_words(prompt: str, genre: str) -> None:
    assert parse_prompt(prompt).genre == genre


def test_structured_hints_win() -> None:
    style = parse_prompt("rock song. BPM: 96, Key: C# minor, Vocals: female")
    assert style.bpm == 96
    assert style.key_root == 1
    assert style.mode == "minor"
    assert style.voice == "female"
    assert {"bpm", "key", "mode"} <= set(style.explicit)


def test_mood_and_energy() -> None:
    sad = parse_prompt("a sad slow song")
    happy = parse_prompt("a happy energetic anthem")
    assert sad.mode == "minor" and happy.mode == "major"
    assert happy.energy > sad.energy
    assert happy.bpm > sad.bpm


@pytest.mark.parametrize(
    "prompt", ["instrumental lo-fi beat", "pop song, no vocals", "Vocals: none", "without vocals"]
)
def test_instrumental_words(prompt: str) -> None:
    assert parse_prompt(prompt).instrumental


def test_vocal_gender() -> None:
    assert parse_prompt("ballad with a male vocal").voice == "male"
    assert parse_prompt("edm with a woman singing").voice == "female"


@pytest.mark.parametrize(
    "prompt", ["", "🎵🎶🔥", "一首关于夏天的歌", "песня о любви", "!!!", "x" * 5000]
)
def test_anything_gives_a_sensible_default(prompt: str) -> None:
    style = parse_prompt(prompt)
    assert 50 <= style.bpm <= 200
    assert 0 <= style.key_root < 12
    assert style.mode in ("major", "minor")


def test_key_parser() -> None:
    assert parse_key("Bb major") == (10, "major")
    assert parse_key("f# min") == (6, "minor")
    assert parse_key("e") == (4, None)
    assert parse_key("zz") is None


def test_drum_machine_words_ask_for_synth_drums() -> None:
    from songforge.composer.compose import compose

    def drum_source(prompt: str) -> str:
        score = compose(prompt, "", 1, max_seconds=20.0)
        return next(t.source for t in score.tracks if t.role == "drums")

    assert parse_prompt("trap beat with 808s").drum_machine
    assert not parse_prompt("laid-back hip hop beat").drum_machine
    assert drum_source("laid-back hip hop beat") == "soundfont"
    assert drum_source("hip hop beat with an 808 drum machine") == "synth-drums"
