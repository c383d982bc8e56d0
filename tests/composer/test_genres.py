"""Genre profiles: enough of them, each its own band, groove and tempo."""

from __future__ import annotations

import pytest

from songforge.composer.compose import compose
from songforge.composer.drums import PATTERNS
from songforge.composer.genres import GENRES
from songforge.composer.prompt import parse_prompt


def test_at_least_twenty_genres_each_its_own() -> None:
    assert len(GENRES) >= 20
    signatures = set()
    for profile in GENRES.values():
        lo, hi = profile.bpm
        assert 40 <= lo <= hi <= 200
        assert profile.drums == "none" or profile.drums in PATTERNS
        signatures.add(
            (profile.drums, profile.bass, profile.chords_program, profile.chords_style, profile.bpm)
        )
    assert len(signatures) == len(GENRES)


@pytest.mark.parametrize(
    ("prompt", "genre"),
    [
        ("70s disco with lush strings", "disco"),
        ("gentle acoustic folk with harmonica", "folk"),
        ("80s synthwave, retro analog synths", "synthwave"),
        ("lo-fi chill hop beat to study to", "lofi"),
        ("soulful gospel with church organ and choir", "gospel"),
        ("dark trap beat with 808s", "trap"),
        ("bossa nova with nylon guitar", "bossa"),
        ("fast raw punk rock song", "punk"),
        ("funky groove with slap bass and clavinet", "funk"),
    ],
)
def test_new_styles_are_recognised(prompt: str, genre: str) -> None:
    assert parse_prompt(prompt).genre == genre


def test_metal_funk_and_orchestral_play_their_instruments() -> None:
    metal = compose("heavy metal, male vocals", "Stand and fight", seed=1)
    drums = next(t for t in metal.tracks if t.role == "drums")
    bar = [n for n in drums.notes if n.pitch == 36 and 40.0 <= n.start < 44.0]
    assert len(bar) >= 12  # double kick: sixteenths
    funk = GENRES["funk"]
    assert (funk.bass_program, funk.chords_program, funk.lead_program) == (36, 7, 61)
    orchestral = compose("epic orchestral strings and brass", "", seed=1)
    programs = {t.program for t in orchestral.tracks}
    assert {48, 42} & programs  # strings section / cello
    assert any(t.role == "drums" for t in orchestral.tracks)  # timpani-like toms


def test_the_prompts_explicit_asks_win() -> None:
    score = compose("metal, BPM: 100, Key: E minor, female vocals", "Rise up", seed=2)
    assert score.bpm == 100 and score.key_root == 4 and score.mode == "minor"
    assert score.voice == "female"
