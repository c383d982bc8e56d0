"""Keys, scales and chord progressions per genre and section."""

from __future__ import annotations

from songforge.composer.genres import GenreProfile, parse_numeral
from songforge.composer.score import Chord

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)

# Used when the prompt asks for the other mode than the genre's own.
GENERIC: dict[str, dict[str, tuple[str, ...]]] = {
    "major": {
        "verse": ("I", "vi", "IV", "V"),
        "chorus": ("I", "V", "vi", "IV"),
        "bridge": ("IV", "V", "iii", "vi"),
    },
    "minor": {
        "verse": ("i", "bVII", "bVI", "bVII"),
        "chorus": ("i", "bVI", "bIII", "bVII"),
        "bridge": ("iv", "bVI", "v", "bVII"),
    },
}

# Which progression each section kind borrows.
KIND_PROGRESSION = {
    "intro": "verse",
    "verse": "verse",
    "pre-chorus": "bridge",
    "chorus": "chorus",
    "post-chorus": "chorus",
    "bridge": "bridge",
    "interlude": "chorus",
    "solo": "chorus",
    "break": "verse",
    "build-up": "bridge",
    "transition": "verse",
    "outro": "chorus",
}


def scale_of(mode: str) -> tuple[int, ...]:
    return MINOR_SCALE if mode == "minor" else MAJOR_SCALE


def progression_for(profile: GenreProfile, mode: str, kind: str) -> tuple[str, ...]:
    which = KIND_PROGRESSION.get(kind, "verse")
    if mode != profile.mode:
        return GENERIC[mode][which]
    return {"verse": profile.verse, "chorus": profile.chorus, "bridge": profile.bridge}[which]


def section_chords(
    profile: GenreProfile,
    key_root: int,
    mode: str,
    kind: str,
    start: float,
    bars: int,
    beats_per_bar: int,
    final: bool,
) -> list[Chord]:
    """One chord per bar cycling the section's progression; a final section ends home."""
    numerals = progression_for(profile, mode, kind)
    chords: list[Chord] = []
    for bar in range(bars):
        numeral = numerals[bar % len(numerals)]
        if final and bar == bars - 1:
            numeral = "i" if mode == "minor" else "I"
        offset, quality = parse_numeral(numeral)
        chords.append(
            Chord(
                start=start + bar * beats_per_bar,
                length=float(beats_per_bar),
                root=(key_root + offset) % 12,
                quality=quality,
            )
        )
    return chords


def chord_at(chords: list[Chord], beat: float) -> Chord:
    """The chord sounding at ``beat`` (chords are sorted and contiguous)."""
    lo, hi = 0, len(chords) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if chords[mid].start <= beat + 1e-9:
            lo = mid
        else:
            hi = mid - 1
    return chords[lo]


def nearest_pitch(pitch_class: int, target: float) -> int:
    """The MIDI pitch with this pitch class closest to ``target``."""
    base = round(target) - 6
    for candidate in range(base, base + 13):
        if candidate % 12 == pitch_class % 12 and abs(candidate - target) <= 6:
            return candidate
    return round(target)


def scale_pitches(key_root: int, mode: str, lo: int, hi: int) -> list[int]:
    steps = {(key_root + s) % 12 for s in scale_of(mode)}
    return [p for p in range(lo, hi + 1) if p % 12 in steps]
