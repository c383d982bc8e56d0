"""A whole song from a few lines: its form, its length, its hook."""

from __future__ import annotations

import pytest

from songforge.composer.compose import MIN_SONG_SECONDS, compose
from songforge.composer.lyrics import parse_lyrics
from songforge.composer.structure import song_sections

ONE_LINE = "Hold on to the summer light"
TWO_LINES = "[Verse]\nI kept your letters in a box\n[Chorus]\nCalling my name again\n"


@pytest.mark.parametrize(
    "prompt",
    ["pop song", "sad slow piano ballad", "thrash metal", "laid-back hip hop", "bossa jazz"],
)
@pytest.mark.parametrize("lyrics", [ONE_LINE, TWO_LINES])
def test_one_or_two_lines_make_a_whole_song(prompt: str, lyrics: str) -> None:
    score = compose(prompt, lyrics, seed=3)
    assert 90.0 <= score.duration_seconds <= 190.0
    kinds = [s.kind for s in score.sections]
    assert kinds[0] == "intro" and kinds[-1] == "outro"
    assert kinds.count("verse") >= 2 and kinds.count("chorus") >= 3
    assert {"solo", "interlude", "bridge"} & set(kinds)
    # It ends on its chorus, and every chorus sings.
    assert kinds[-2] == "chorus"
    assert all(s.sung for s in score.sections if s.kind in ("verse", "chorus"))


def test_never_under_a_minute() -> None:
    for seed in range(6):
        score = compose("fast punk", "Go", seed=seed)
        assert score.duration_seconds >= MIN_SONG_SECONDS


def test_the_users_lines_are_sung_in_order_first() -> None:
    lyrics = (
        "[Verse]\nOne two three\nFour five six\n[Chorus]\nSeven eight nine\n[Bridge]\nTen now\n"
    )
    score = compose("pop song", lyrics, seed=1)
    texts = [p.text for p in score.vocal]
    first = [
        texts.index(t) for t in ("One two three", "Four five six", "Seven eight nine", "Ten now")
    ]
    assert first == sorted(first)


def test_a_chorus_is_built_from_the_last_lines_when_none_is_tagged() -> None:
    sections = song_sections(parse_lyrics("first line here\nsecond line here"))
    assert [s.kind for s in sections] == ["verse", "chorus"]
    assert [line.text for line in sections[1].lines] == ["first line here", "second line here"]


def test_the_hook_returns_in_every_chorus_with_the_same_tune() -> None:
    score = compose("catchy pop, female vocals", TWO_LINES, seed=2)
    choruses = [i for i, s in enumerate(score.sections) if s.kind == "chorus"]
    tunes = []
    for index in choruses:
        phrases = [p for p in score.vocal if p.section == index]
        assert phrases and all(p.harmony for p in phrases)  # backing harmonies
        start = score.sections[index].start
        tunes.append([(n.start - start, n.pitch) for n in phrases[0].notes])
    assert len(tunes) >= 3 and all(t == tunes[0] for t in tunes)


@pytest.mark.parametrize("seconds", [10.0, 30.0, 47.3, 95.0, 200.0])
@pytest.mark.parametrize("prompt", ["pop song", "sad ballad, BPM: 62", "metal"])
def test_a_requested_duration_is_planned_exactly(seconds: float, prompt: str) -> None:
    score = compose(prompt, TWO_LINES, seed=1, target_seconds=seconds)
    assert score.length_seconds == seconds
    # The form ends within a bar of the requested length (the tempo bends to fit unless the
    # prompt set it; the audio is cut to the length with a fade).
    bar = score.seconds(score.beats_per_bar)
    assert score.duration_seconds <= seconds + bar or seconds < 20
    if seconds >= 30:
        assert score.duration_seconds >= seconds - 8.0


def test_unequal_lines_are_balanced_to_fill_their_section() -> None:
    """A chorus of a 2-bar line and a 1-bar line, sung twice, would leave two of its
    8 bars to the band; each line gets 2 bars instead (the short one holds longer)."""
    from songforge.composer.form import plan_form

    sections = parse_lyrics("[Chorus]\nWe are golden, we are shining\nNever gonna be the same\n")
    counts = {"We are golden, we are shining": 8, "Never gonna be the same": 7}
    (chorus,) = [s for s in plan_form(sections, counts, 112.0, 0.7) if s.lines]
    assert chorus.bars == 8
    assert [line.beats for line in chorus.lines] == [8.0] * 4
    assert [line.start for line in chorus.lines] == [0.0, 8.0, 16.0, 24.0]
    # Lines that already share a length are left as they were.
    even = {"We are golden, we are shining": 8, "Never gonna be the same": 8}
    (chorus,) = [s for s in plan_form(sections, even, 112.0, 0.7) if s.lines]
    assert [line.beats for line in chorus.lines] == [8.0] * 4
