"""Random prompts and lyrics never crash the composer (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from songforge.composer.compose import MIN_SONG_SECONDS, compose
from songforge.composer.song import SongRenderer

TAGS = [
    "[Verse]",
    "[verse 2]",
    "[CHORUS]",
    "[Pre Chorus]",
    "[Bridge]",
    "[Outro]",
    "[Intro]",
    "[Hook]",
    "[Solo]",
    "[Break]",
    "[Build Up]",
    "[Weird Tag]",
    "[",
    "]",
]
WORDS = [
    "love",
    "night",
    "fire",
    "the",
    "a",
    "你好",
    "привет",
    "🎵",
    "...",
    "!!!",
    "ça",
    "naïve",
    "don't",
    "123",
    "ﷺ",
    "𝔘𝔫𝔦",
    "\u200b",
    "a" * 60,
    "λόγος",
    "東京",
    "שלום",
    "-",
    "'",
]

lyric_lines = st.one_of(
    st.sampled_from(TAGS),
    st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join),
    st.text(max_size=80),
    st.just(""),
)
lyrics_text = st.one_of(
    st.lists(lyric_lines, max_size=30).map("\n".join),
    st.text(max_size=400),
    st.just(""),
    st.just("[Verse]\n[Chorus]\n[Bridge]"),
    st.just("?!.,;:" * 50),
)
prompts = st.one_of(
    st.text(max_size=300),
    st.lists(
        st.sampled_from(
            [
                "rock",
                "BPM: 300",
                "bpm: 0",
                "Key: H major",
                "Key: C#",
                "Vocals: female",
                "instrumental",
                "no vocals",
                "jazz",
                "sad",
                "🎸",
                "edm",
                "ambient",
                "tempo 45",
                "Genre: metal",
                "a cappella",
                "x",
            ]
        ),
        max_size=8,
    ).map(", ".join),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=prompts,
    lyrics=lyrics_text,
    seed=st.integers(0, 2**31 - 1),
    target=st.one_of(st.none(), st.floats(5.0, 240.0)),
)
def test_compose_never_crashes(prompt: str, lyrics: str, seed: int, target: float | None) -> None:
    score = compose(prompt, lyrics, seed, max_seconds=240.0, target_seconds=target)
    if target is None:
        # A whole song, however few the words.
        # (A form whose first sung section alone overruns the limit, e.g. 3,500 characters
        # at 50 BPM, is cut there by the renderer: it sizes the audio to at most max_seconds.)
        assert score.duration_seconds >= MIN_SONG_SECONDS
        assert score.length_seconds is None
    else:
        assert score.length_seconds == target
        # The renderer cuts the audio to exactly this (a form longer than a very short
        # request, its first sung section, is faded out there).
        assert score.duration_seconds > 0
    assert score.sections and score.chords
    assert 40 <= score.bpm <= 200
    for phrase in score.vocal:
        assert phrase.notes
        assert all(n.length > 0 for n in phrase.notes)


# The API's longest lyrics (3,500 characters), tags and blank lines mixed in: slower
# (every new word goes through espeak-ng), so fewer examples.
long_lyrics = st.one_of(
    st.lists(lyric_lines, min_size=30, max_size=120).map(lambda ls: "\n".join(ls)[:3500]),
    st.text(min_size=3000, max_size=3500),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=prompts,
    lyrics=long_lyrics,
    seed=st.integers(0, 2**31 - 1),
    target=st.one_of(st.none(), st.floats(5.0, 240.0)),
)
def test_long_lyrics_compose(prompt: str, lyrics: str, seed: int, target: float | None) -> None:
    test_compose_never_crashes.hypothesis.inner_test(prompt, lyrics, seed, target)  # type: ignore[attr-defined]


def test_huge_lyrics_compose_within_bounds() -> None:
    lyrics = "\n".join(f"[Verse {i}]\n" + "la la love the night fire " * 10 for i in range(200))
    score = compose("pop", lyrics[:20000], 1)
    assert score.duration_seconds <= 300.0


@pytest.fixture(scope="module")
def fuzz_renderer() -> SongRenderer:
    renderer = SongRenderer()
    renderer.load()
    return renderer


# A handful of full renders in the default run; many more under -m slow.
_EDGE_CASES = [
    ("", ""),
    ("🎸🔥", "🎵🎶\n\n🎵"),
    ("一首关于夏天的歌", "[Verse]\n你好 世界 东京\n[Chorus]\nпривет мир"),
    ("!!!", "[Verse]\n[Chorus]\n"),
    ("pop", "?!.,;:" * 100),
    ("metal, BPM: 250", "[Verse]\n" + "supercalifragilistic " * 20),
]


@pytest.mark.parametrize(("prompt", "lyrics"), _EDGE_CASES)
def test_render_edge_cases(fuzz_renderer: SongRenderer, prompt: str, lyrics: str) -> None:
    song = fuzz_renderer.render(prompt, lyrics, seed=1, max_seconds=30.0, target_seconds=8.0)
    assert song.audio.shape == (8 * 44100, 2)
    assert np.isfinite(song.audio).all() and np.abs(song.audio).max() <= 1.0


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    prompt=prompts,
    lyrics=lyrics_text,
    seed=st.integers(0, 2**31 - 1),
    target=st.floats(5.0, 12.0),
)
def test_render_never_crashes(
    fuzz_renderer: SongRenderer, prompt: str, lyrics: str, seed: int, target: float
) -> None:
    song = fuzz_renderer.render(prompt, lyrics, seed=seed, target_seconds=target)
    assert song.audio.shape[0] == round(target * 44100)
    assert np.isfinite(song.audio).all()
