"""The singer's analysis cache: reused within and across songs, bounded in bytes."""

from __future__ import annotations

import pytest

from songforge.composer import singer as singer_module
from songforge.composer.compose import compose
from songforge.composer.singer import VoiceSettings, timed_notes
from songforge.composer.song import SongRenderer

LINES = [
    "I kept your letters in a box",
    "Down by the river where the cottonwoods grow",
    "Hold on to the summer light",
    "City lights and late night talks",
    "We ride tonight we ride tonight",
    "Calling my name again",
]


def test_analysis_cache_stays_within_its_byte_budget(
    renderer: SongRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    singer = singer_module.Singer(renderer.voice)
    budget = 2 * 1024 * 1024
    monkeypatch.setattr(singer_module, "ANALYSIS_CACHE_BYTES", budget)
    score = compose("Pop song, BPM: 100", "\n".join(LINES), 1)
    # Each line once, as first sung (the whole song repeats some of them).
    first = {p.text: p for p in reversed(score.vocal)}
    phrases = [list(first[line].notes) for line in LINES]
    for notes in phrases:
        timed = timed_notes(notes, score.seconds_per_beat)
        singer.sing(timed, [[n.pitch for n in notes]], [VoiceSettings()])
        assert singer.analysis_cache_bytes <= budget or len(singer._analysis) == 1
    # It did have to let go of older phrases, and kept the newest.
    assert len(singer._analysis) < len(LINES)
    before = singer.analysis_cache_bytes
    last = timed_notes(phrases[-1], score.seconds_per_beat)
    singer.sing(last, [[n.pitch for n in phrases[-1]]], [VoiceSettings()])
    assert singer.analysis_cache_bytes == before  # a hit: nothing new stored
