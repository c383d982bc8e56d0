from __future__ import annotations

import itertools

from songforge.composer.genres import GENRES
from songforge.composer.harmony import section_chords
from songforge.composer.melody import VOICE_RANGES, LineSyllable, line_melody
from songforge.composer.phonemes import phonemize_words
from songforge.composer.syllables import split_syllables


def _syllables(line: str) -> list[LineSyllable]:
    words = line.split()
    ipa = phonemize_words(words)
    return [
        LineSyllable(s, w, k == 0) for w in words for k, s in enumerate(split_syllables(ipa[w], w))
    ]


def _melody(line: str, seed: int = 1, voice: str = "male") -> list:  # type: ignore[type-arg]
    chords = section_chords(GENRES["pop"], 0, "major", "verse", 0.0, 4, 4, False)
    return line_melody(
        _syllables(line), 0.0, 8.0, chords, 0, "major", voice, "neutral", "verse", False, seed
    )


def test_stressed_syllables_on_beats() -> None:
    for line in (
        "I kept your letters in a box",
        "Down by the river where the cottonwoods grow",
        "Carry me through winter call me by my name",
    ):
        notes = _melody(line)
        stressed = [n for n in notes if n.stressed]
        on_beat = [n for n in stressed if abs(n.start - round(n.start)) < 1e-9]
        assert len(on_beat) >= 0.8 * len(stressed), line


def test_notes_in_order_inside_the_phrase_and_the_range() -> None:
    for voice in ("male", "female"):
        notes = _melody("Hold on to the summer hold on to the flame", voice=voice)
        lo, hi = VOICE_RANGES[voice]
        assert all(lo - 3 <= n.pitch <= hi + 3 for n in notes)
        assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(notes))
        assert notes[-1].end <= 8.0
        leaps = [abs(a.pitch - b.pitch) for a, b in itertools.pairwise(notes)]
        assert max(leaps) <= 9


def test_same_seed_same_tune() -> None:
    assert _melody("We are dancing in the fire", 3) == _melody("We are dancing in the fire", 3)


def test_too_many_syllables_are_merged_not_dropped_from_the_phrase() -> None:
    notes = _melody(" ".join(["university"] * 8))
    assert notes and notes[-1].end <= 8.0


def _pace(line: str, bpm: float, syllable_seconds: float) -> float:
    """Seconds per syllable over the line, its held last note left out."""
    chords = section_chords(GENRES["pop"], 0, "major", "verse", 0.0, 4, 4, False)
    notes = line_melody(
        _syllables(line),
        0.0,
        8.0,
        chords,
        0,
        "major",
        "male",
        "neutral",
        "verse",
        False,
        1,
        seconds_per_beat=60.0 / bpm,
        syllable_seconds=syllable_seconds,
    )
    span = (notes[-1].start - notes[0].start) * 60.0 / bpm
    return span / (len(notes) - 1)


def test_lines_keep_a_speech_like_pace_at_any_tempo() -> None:
    line = "Down by the river where the cottonwoods grow"
    for bpm in (66.0, 96.0, 128.0, 160.0):
        pace = _pace(line, bpm, 0.25)
        # The grid allows only so much: within a factor 1.6 of the goal.
        assert 0.25 / 1.6 <= pace <= 0.25 * 1.6, (bpm, pace)


def test_a_faster_pace_gives_shorter_syllables() -> None:
    line = "City lights and late night talks"
    assert _pace(line, 86.0, 0.19) < _pace(line, 86.0, 0.35)
