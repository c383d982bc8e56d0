"""Song form: which sections, how long, how intense, and where each line is sung.

The tagged lyric sections are kept in order; an intro, an instrumental break
after the first chorus and an outro are added where the lyrics have none.
Every section is a whole number of 4-bar phrases so progressions resolve.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from songforge.composer.lyrics import LyricLine, LyricSection

KIND_ENERGY = {
    "intro": 0.3,
    "verse": 0.5,
    "pre-chorus": 0.65,
    "chorus": 0.9,
    "post-chorus": 0.8,
    "bridge": 0.55,
    "interlude": 0.7,
    "solo": 0.75,
    "break": 0.25,
    "build-up": 0.7,
    "transition": 0.4,
    "outro": 0.35,
}

# Sung sections last at least this many bars (at 90 BPM and up; 4 below):
# shorter verses and choruses make a song of many tiny sections.
MIN_SUNG_BARS = 8

INSTRUMENTAL_FORM = (
    ("intro", 4),
    ("verse", 8),
    ("chorus", 8),
    ("verse", 8),
    ("chorus", 8),
    ("bridge", 8),
    ("chorus", 8),
    ("outro", 4),
)


@dataclass(frozen=True)
class PlannedLine:
    line: LyricLine
    # Beats from the section start, and how many beats the phrase may use.
    start: float
    beats: float
    # Position of the line inside its section (melodies repeat by position).
    index: int


@dataclass
class PlannedSection:
    kind: str
    label: str
    bars: int
    energy: float
    lines: list[PlannedLine] = field(default_factory=list)
    # How many times this kind has occurred before (choruses build up).
    occurrence: int = 0


def phrase_bars(
    syllables: int, bpm: float, syllable_seconds: float = 0.25, beats_per_bar: int = 4
) -> int:
    """Bars one sung line gets: the fewest (1, 2 or 4) that hold it at about its
    genre's speaking pace with a beat to breathe; lines packed this way keep the
    voice singing most of its section instead of one short burst per two bars."""
    spb = 60.0 / bpm
    needed = syllables * syllable_seconds * 0.9
    for bars in (1, 2):
        if needed <= (bars * beats_per_bar - 1) * spb:
            return bars
    return 4


def _place_lines(
    lyric_lines: list[LyricLine],
    syllable_counts: dict[str, int],
    bpm: float,
    syllable_seconds: float,
    beats_per_bar: int,
    stretch: int,
) -> tuple[list[PlannedLine], float]:
    """Each line's start and room in beats from the section start, and the beats used."""
    lines: list[PlannedLine] = []
    cursor = 0.0
    for index, line in enumerate(lyric_lines):
        syllables = syllable_counts.get(line.text, len(line.words))
        beats = float(phrase_bars(syllables, bpm, syllable_seconds, beats_per_bar) * stretch)
        beats *= beats_per_bar
        lines.append(PlannedLine(line, cursor, beats, index))
        cursor += beats
        if line.pause_after:
            cursor += beats_per_bar
    return lines, cursor


def _balanced(
    lines: list[PlannedLine], cursor: float, room: float, beats_per_bar: int
) -> tuple[list[PlannedLine], float]:
    """Lines of unequal length (a 1-bar line beside a 2-bar one) in a section they
    do not fill each get the longest line's room, when that still fits: a chorus
    of 2 + 1 bars sung twice fills its 8 bars as 2 + 2 + 2 + 2 (the shorter line
    holds its last note) instead of leaving two bars of band alone. Songwriters
    balance phrases that way; the voice then sings most of its section."""
    if not lines or cursor >= room:
        return lines, cursor
    longest = max(line.beats for line in lines)
    if all(line.beats == longest for line in lines):
        return lines, cursor
    balanced: list[PlannedLine] = []
    start = 0.0
    for line in lines:
        balanced.append(PlannedLine(line.line, start, longest, line.index))
        start += longest
        if line.line.pause_after:
            start += beats_per_bar
    if start > room:
        return lines, cursor
    return balanced, start


def plan_form(
    lyric_sections: list[LyricSection],
    syllable_counts: dict[str, int],
    bpm: float,
    energy: float,
    beats_per_bar: int = 4,
    syllable_seconds: float = 0.25,
    frame_bars: int | None = None,
) -> list[PlannedSection]:
    """Sections in order; ``syllable_counts`` maps a line's text to its syllable count.

    ``frame_bars``: the added intro and outro are this long (a genre whose band
    opens and closes the song alone: an orchestra's overture); by default a short
    intro (2 bars under 80 BPM, else 4) and a 4-bar outro."""
    scale = 0.6 + 0.6 * energy
    planned: list[PlannedSection] = []
    intro_bars = frame_bars or (2 if bpm < 80 else 4)
    outro_bars = frame_bars or 4
    if not lyric_sections:
        for kind, bars in INSTRUMENTAL_FORM:
            if kind == "intro":
                bars = intro_bars
            planned.append(PlannedSection(kind, kind, bars, 0.0))
    else:
        if lyric_sections[0].kind != "intro" or lyric_sections[0].lines:
            planned.append(PlannedSection("intro", "intro", intro_bars, 0.0))
        has_break = any(not s.lines and s.kind not in ("intro", "outro") for s in lyric_sections)
        choruses_seen = 0
        for position, section in enumerate(lyric_sections):
            if not section.lines:
                bars = 8 if section.kind == "solo" else 4
                if section.kind == "intro":
                    bars = intro_bars
                planned.append(PlannedSection(section.kind, section.label, bars, 0.0))
                continue
            lines, cursor = _place_lines(
                section.lines, syllable_counts, bpm, syllable_seconds, beats_per_bar, 1
            )
            shortest = MIN_SUNG_BARS if bpm >= 90 else 4
            total_bars = max(shortest, math.ceil(cursor / beats_per_bar / 4.0 - 1e-9) * 4)
            repeats = 1
            while 2 * cursor <= total_bars * beats_per_bar:
                # Half the section would be band alone. A chorus sings its hook again
                # and a couplet is sung twice (as songwriters do with short lyrics);
                # longer verses give each line twice the room.
                if section.kind == "chorus" or len(section.lines) <= 2:
                    repeats, stretch = repeats * 2, 1
                else:
                    stretch = 2
                lines, cursor = _place_lines(
                    section.lines * repeats,
                    syllable_counts,
                    bpm,
                    syllable_seconds,
                    beats_per_bar,
                    stretch,
                )
                if stretch == 2:
                    break
            lines, cursor = _balanced(lines, cursor, total_bars * beats_per_bar, beats_per_bar)
            planned.append(PlannedSection(section.kind, section.label, total_bars, 0.0, lines))
            if section.kind == "chorus":
                choruses_seen += 1
                following = (
                    lyric_sections[position + 1] if position + 1 < len(lyric_sections) else None
                )
                if (
                    choruses_seen == 1
                    and not has_break
                    and following is not None
                    and following.kind not in ("chorus", "post-chorus", "outro")
                ):
                    planned.append(PlannedSection("interlude", "interlude", 4, 0.0))
        if lyric_sections[-1].kind != "outro" or lyric_sections[-1].lines:
            planned.append(PlannedSection("outro", "outro", outro_bars, 0.0))

    counts: dict[str, int] = {}
    for item in planned:
        item.occurrence = counts.get(item.kind, 0)
        counts[item.kind] = item.occurrence + 1
        base = KIND_ENERGY.get(item.kind, 0.5) + 0.05 * min(item.occurrence, 2)
        item.energy = round(min(1.0, max(0.1, base * scale)), 3)
    return planned


def fit_duration(
    planned: list[PlannedSection], max_beats: float, beats_per_bar: int = 4
) -> list[PlannedSection]:
    """Shorten the form until it fits ``max_beats``, keeping the singing for last.

    Instrumental breaks go first, then the intro and outro shrink, then whole
    sections from the end; whatever still overflows is cut (with a fade) when
    rendering.
    """
    sections = list(planned)

    def total() -> float:
        return float(sum(s.bars for s in sections) * beats_per_bar)

    breaks = ("interlude", "solo", "break", "transition", "build-up")
    for index in range(len(sections) - 1, 0, -1):
        if total() <= max_beats:
            return sections
        if sections[index].kind in breaks and not sections[index].lines:
            del sections[index]
    for section in sections:
        if total() <= max_beats:
            return sections
        if not section.lines and section.kind in ("intro", "outro"):
            section.bars = 1 if section.kind == "intro" else 2
    while total() > max_beats:
        sung = [i for i, s in enumerate(sections) if s.lines]
        last = len(sections) - 1
        removable = (
            last - 1 if sections[last].kind == "outro" and not sections[last].lines else last
        )
        if removable <= 0 or (sung and removable <= sung[0]):
            break
        del sections[removable]
    if total() > max_beats and len(sections) > 1 and not sections[-1].lines:
        del sections[-1]
    return sections
