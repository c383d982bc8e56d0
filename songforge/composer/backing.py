"""Backing vocals: sustained "ooh"s on chord tones where the lead does not sing.

A song with a sung lead keeps a voice in its instrumental stretches after the
lead has come in (interludes, outro), as a producer would with a backing-vocal
pad: two voices a chord tone apart, one held note per bar. Without it, a short
song is mostly band, and taggers (and listeners) hear an instrumental with a
vocal cameo.

The intro stays instrumental: a recogniser (Whisper) that opens on a held "ooh"
falls into a loop ("Beeeee...", "Hmmmm...") for its whole first 30 s window and
never writes the first verse, often the only time those words are sung
(docs/decisions/0002, session 4).
"""

from __future__ import annotations

from dataclasses import dataclass

from songforge.composer.harmony import chord_at
from songforge.composer.melody import tessitura
from songforge.composer.score import Score
from songforge.composer.singer import TimedNote

BACKED_SECTIONS = frozenset({"intro", "interlude", "instrumental", "break", "outro"})
BACKING_VOWEL = "uː"
# Beats left silent at the end of each bar: the singers breathe.
BREATH_BEATS = 0.5


@dataclass(frozen=True)
class BackingPhrase:
    start: float  # beats from the song's start
    notes: tuple[TimedNote, ...]  # times in seconds from ``start``; the lower voice
    upper: tuple[int, ...]  # the upper voice's pitch for each note


def backing_phrases(score: Score) -> list[BackingPhrase]:
    if not score.vocal:
        return []
    lo, hi, middle = tessitura(score.voice, "neutral", score.key_root)
    spb = score.seconds_per_beat
    bar = float(score.beats_per_bar)
    phrases: list[BackingPhrase] = []
    first_sung = next((i for i, s in enumerate(score.sections) if s.sung), len(score.sections))
    for index, section in enumerate(score.sections):
        if section.sung or section.kind not in BACKED_SECTIONS or index < first_sung:
            continue
        bars = section.bars - (1 if index == len(score.sections) - 1 else 0)
        notes: list[TimedNote] = []
        upper: list[int] = []
        for k in range(bars):
            beat = section.start + k * bar
            tones = set(chord_at(score.chords, beat).pitch_classes())
            candidates = [p for p in range(lo, hi + 1) if p % 12 in tones]
            if not candidates:
                continue
            lower = min(candidates, key=lambda p: abs(p - (middle - 2)))
            above = [p for p in candidates if p > lower]
            notes.append(
                TimedNote(
                    start=k * bar * spb,
                    end=(k * bar + bar - BREATH_BEATS) * spb,
                    pitch=lower,
                    onset="",
                    nucleus=BACKING_VOWEL,
                    coda="",
                    stressed=False,
                    word_start=True,
                )
            )
            upper.append(above[0] if above else lower + 12)
        if notes:
            phrases.append(BackingPhrase(section.start, tuple(notes), tuple(upper)))
    return phrases
