"""Random prompts and lyrics never crash the composer (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from songforge.composer.compose import compose
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
@given(prompt=prompts, lyrics=lyrics_text, seed=st.integers(0, 2**31 - 1))
def test_compose_never_crashes(prompt: str, lyrics: str, seed: int) -> None:
    score = compose(prompt, lyrics, seed, max_seconds=240.0)
    assert 0 < score.duration_seconds <= 240.0
    assert score.sections and score.chords
    assert 40 <= score.bpm <= 200
    for phrase in score.vocal:
        assert phrase.notes
        assert all(n.length > 0 for n in phrase.notes)


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
    song = fuzz_renderer.render(prompt, lyrics, seed=1, max_seconds=8.0)
    assert song.audio.shape[1] == 2 and 1.0 <= song.duration_seconds <= 8.0 + 1e-6
    assert np.isfinite(song.audio).all() and np.abs(song.audio).max() <= 1.0


@pytest.mark.slow
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(prompt=prompts, lyrics=lyrics_text, seed=st.integers(0, 2**31 - 1))
def test_render_never_crashes(
    fuzz_renderer: SongRenderer, prompt: str, lyrics: str, seed: int
) -> None:
    song = fuzz_renderer.render(prompt, lyrics, seed=seed, max_seconds=6.0)
    assert np.isfinite(song.audio).all()
