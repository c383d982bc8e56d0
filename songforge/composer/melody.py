"""The vocal melody: rhythm from the words' stress, pitch from the chords.

Stressed syllables land on beats (the strongest free ones), unstressed ones
between; each line ends on a held note and a breath. Pitches are chord tones on
strong syllables and scale steps between, shaped by a contour and kept inside
the voice's range. The random choices are seeded by the section kind and the
line's position in it, so a chorus sung twice has the same tune, and verse
lines share their shape across verses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from songforge.composer.harmony import chord_at, scale_pitches
from songforge.composer.score import Chord, SungNote
from songforge.composer.syllables import Syllable

VOICE_RANGES = {"male": (48, 64), "female": (57, 74)}
# How far above the range's middle each kind of section sits (semitones).
KIND_LIFT = {"chorus": 3, "post-chorus": 3, "pre-chorus": 1, "bridge": 2, "verse": -1}


@dataclass(frozen=True)
class LineSyllable:
    syllable: Syllable
    word: str
    # First syllable of its word (two equal words in a row are still two words).
    first: bool = True

    @property
    def stressed(self) -> bool:
        return self.syllable.stress == 1


def _merge(syllables: list[LineSyllable], limit: int) -> list[LineSyllable]:
    """Too many syllables for the slots: fold unstressed ones into their neighbour."""
    items = list(syllables)
    while len(items) > limit:
        index = next(
            (i for i in range(len(items) - 1, 0, -1) if not items[i].stressed),
            len(items) - 1,
        )
        prev, cur = items[index - 1], items[index]
        merged = Syllable(
            onset=prev.syllable.onset,
            nucleus=prev.syllable.nucleus,
            coda=prev.syllable.coda + cur.syllable.onset + cur.syllable.nucleus + cur.syllable.coda,
            stress=max(prev.syllable.stress, cur.syllable.stress, key=lambda s: s == 1),
        )
        word = prev.word if prev.word == cur.word else f"{prev.word} {cur.word}"
        items[index - 1 : index + 1] = [LineSyllable(merged, word, prev.first)]
    return items


def _walk(items: list[LineSyllable], strong: int, weak: int, align: int) -> list[int]:
    """Slot positions: stressed syllables wait for the next beat (multiple of ``align``)."""
    positions: list[int] = []
    pos = 0
    for item in items:
        if item.stressed and align > 1 and pos % align:
            pos += align - pos % align
        positions.append(pos)
        pos += strong if item.stressed else weak
    return positions


# Rhythm candidates: (grid step in beats, slots for a stressed syllable, slots
# for an unstressed one, stressed syllables wait for a multiple of this many slots).
RHYTHMS = (
    (1.0, 2, 1, 1),
    (0.5, 3, 1, 2),
    (0.5, 2, 1, 2),
    (0.5, 1, 1, 2),
    (0.25, 3, 2, 2),
    (0.25, 2, 1, 2),
    (0.25, 1, 1, 1),
)


def rhythm(
    syllables: list[LineSyllable],
    beats: float,
    rest_beats: float,
    rng: np.random.Generator,
    seconds_per_beat: float = 0.5,
    syllable_seconds: float = 0.25,
) -> tuple[list[LineSyllable], list[tuple[float, float]]]:
    """(start, length) in beats from the phrase start for each (possibly merged) syllable.

    Of the rhythms that fit the line (with room for a held last note), the one
    whose average syllable is closest to ``syllable_seconds`` wins. Sung words
    stay intelligible near speaking rate (~0.2 s a syllable) and long-held vowels
    inside a line are heard as extra words, so a line keeps a speech-like pace
    (each genre sets its own, GenreProfile.syllable_seconds) and holds only its
    last note.
    """
    usable = max(1.0, beats - rest_beats)
    best: tuple[float, float, list[int]] | None = None
    for step, strong, weak, align in RHYTHMS:
        slots = int(usable / step)
        positions = _walk(syllables, strong, weak, align)
        if positions[-1] + 2 > slots:
            continue
        span = (positions[-1] + (strong if syllables[-1].stressed else weak)) * step
        per_syllable = span * seconds_per_beat / len(syllables)
        cost = abs(math.log(per_syllable / syllable_seconds))
        if best is None or cost < best[0]:
            best = (cost, step, positions)
    if best is not None:
        _, step, positions = best
        items = syllables
    else:
        step = 0.25
        items = _merge(syllables, max(1, int(usable / step) - 2))
        positions = _walk(items, 1, 1, 1)
    slots = int(usable / step)
    # A short line may start later in the bar (a pickup feel), chosen per melody seed.
    slack = slots - (positions[-1] + 2)
    per_beat = round(1.0 / step)
    if slack >= 2 * per_beat and rng.random() < 0.5:
        shift = per_beat if items[0].stressed else per_beat // 2 or 1
        positions = [p + shift for p in positions]
    timings: list[tuple[float, float]] = []
    for i in range(len(items)):
        start = positions[i] * step
        end = positions[i + 1] * step if i + 1 < len(items) else max(start + 2 * step, usable)
        timings.append((start, end - start))
    return list(items), timings


def tessitura(voice: str, character: str, key_root: int) -> tuple[int, int, float]:
    lo, hi = VOICE_RANGES.get(voice, VOICE_RANGES["male"])
    if character == "deep":
        lo, hi = lo - 3, hi - 3
    elif character == "high":
        lo, hi = lo + 2, hi + 2
    middle = (lo + hi) / 2.0
    return lo, hi, middle


def line_melody(
    syllables: list[LineSyllable],
    phrase_start: float,
    beats: float,
    chords: list[Chord],
    key_root: int,
    mode: str,
    voice: str,
    character: str,
    kind: str,
    final_line: bool,
    seed: int,
    rest_beats: float = 1.0,
    seconds_per_beat: float = 0.5,
    syllable_seconds: float = 0.25,
) -> list[SungNote]:
    """The notes of one sung line, in song beats."""
    if not syllables:
        return []
    rng = np.random.default_rng(seed)
    items, timings = rhythm(syllables, beats, rest_beats, rng, seconds_per_beat, syllable_seconds)
    lo, hi, middle = tessitura(voice, character, key_root)
    centre = middle + KIND_LIFT.get(kind, 0)
    allowed = scale_pitches(key_root, mode, lo, hi)
    shape = rng.choice(["arch", "fall", "rise", "wave"])
    n = len(items)
    notes: list[SungNote] = []
    previous: int | None = None
    for i, (item, (start, length)) in enumerate(zip(items, timings, strict=True)):
        t = i / max(1, n - 1)
        if shape == "arch":
            contour = math.sin(math.pi * t) * 4.0 - 1.0
        elif shape == "fall":
            contour = 3.0 - 5.0 * t
        elif shape == "rise":
            contour = -2.0 + 4.0 * t
        else:
            contour = 2.5 * math.sin(2 * math.pi * t)
        target = centre + contour
        beat = phrase_start + start
        chord = chord_at(chords, beat)
        strong = item.stressed or (start % 2.0 == 0.0) or i == n - 1
        if strong:
            tones = set(chord.pitch_classes())
            if i == n - 1 and final_line:
                tones = {key_root % 12}
            candidates = [p for p in allowed if p % 12 in tones] or allowed
        else:
            candidates = allowed
        if previous is not None:
            close = [p for p in candidates if abs(p - previous) <= (7 if strong else 2)]
            candidates = close or candidates
        weights = np.array([1.0 / (1.0 + abs(p - target)) ** 2 for p in candidates])
        if previous is not None:
            weights *= np.array([1.6 if 0 < abs(p - previous) <= 4 else 1.0 for p in candidates])
        weights /= weights.sum()
        pitch = int(candidates[int(rng.choice(len(candidates), p=weights))])
        previous = pitch
        notes.append(
            SungNote(
                start=phrase_start + start,
                length=length,
                pitch=pitch,
                syllable=item.syllable.phonemes,
                onset=item.syllable.onset,
                nucleus=item.syllable.nucleus,
                coda=item.syllable.coda,
                word=item.word,
                stressed=item.stressed,
                word_start=item.first,
            )
        )
    return notes


def harmony_pitch(note: SungNote, chords: list[Chord], key_root: int, mode: str) -> int:
    """A chord tone a third or so above the melody note, for chorus harmonies."""
    chord = chord_at(chords, note.start)
    tones = set(chord.pitch_classes())
    for step in range(3, 9):
        if (note.pitch + step) % 12 in tones:
            return note.pitch + step
    return note.pitch + 12
