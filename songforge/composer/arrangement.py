"""The arrangement: which parts play in each section and what they play.

Every genre has drums, bass, a chord part, an optional pad, a lead for the
instrumental sections and a colour instrument. Sections with more energy get
more parts and busier patterns, so the song builds from verse to chorus.
"""

from __future__ import annotations

import math

import numpy as np

from songforge.composer.drums import drum_bar
from songforge.composer.genres import GenreProfile
from songforge.composer.harmony import chord_at, nearest_pitch, scale_pitches
from songforge.composer.prompt import Style
from songforge.composer.score import Chord, Note, Section, Track, VocalPhrase

SUNG_KINDS_LEAD_REST = frozenset({"verse", "pre-chorus", "chorus", "post-chorus", "bridge"})


def _voicing(chord: Chord, centre: int) -> list[int]:
    """Close voicing of the chord around ``centre``."""
    root = nearest_pitch(chord.root, centre - 4)
    return [root + interval for interval in chord.tones()]


def _swing(beat: float, amount: float) -> float:
    if amount <= 0:
        return beat
    frac = beat % 1.0
    if abs(frac - 0.5) < 1e-6:
        return beat + amount * 0.5
    return beat


def chord_part(chords: list[Chord], section: Section, style_name: str, bpb: int) -> list[Note]:
    notes: list[Note] = []
    velocity = int(60 + 40 * section.energy)
    for chord in chords:
        if chord.start < section.start or chord.start >= section.end(bpb):
            continue
        pitches = _voicing(chord, 62)
        s = chord.start
        if style_name == "arp":
            pattern = [0, 1, 2, 1, 2, 1, 0, 1] if len(pitches) >= 3 else [0, 1] * 4
            base = [pitches[0] - 12, *pitches]
            for k in range(int(chord.length * 2)):
                pitch = base[pattern[k % len(pattern)] + (1 if k % 4 else 0)]
                notes.append(Note(s + k * 0.5, 0.9, pitch, velocity - (10 if k % 2 else 0)))
        elif style_name == "strum":
            for beat, strength in ((0.0, 1.0), (1.5, 0.7), (2.0, 0.85), (3.0, 0.8), (3.5, 0.6)):
                for index, pitch in enumerate([pitches[0] - 12, *pitches]):
                    notes.append(
                        Note(s + beat + index * 0.02, 0.9, pitch, int(velocity * strength))
                    )
        elif style_name == "stab":
            for beat in (0.5, 1.5, 2.5, 3.5):
                for pitch in pitches:
                    notes.append(Note(s + beat, 0.35, pitch, velocity))
        elif style_name == "power":
            root = nearest_pitch(chord.root, 45)
            for k in range(int(chord.length * 2)):
                for pitch in (root, root + 7, root + 12):
                    notes.append(Note(s + k * 0.5, 0.45, pitch, velocity - (8 if k % 2 else 0)))
        elif style_name == "skank":
            for beat in (1.0, 3.0):
                for pitch in pitches:
                    notes.append(Note(s + beat, 0.3, pitch + 12, velocity))
        elif style_name == "pad":
            for pitch in pitches:
                notes.append(Note(s, chord.length, pitch, velocity - 10))
        elif style_name in PATTERNED:
            notes += PATTERNED[style_name](chord, pitches, section, velocity)
        else:  # block
            hits = (0.0, 2.0) if section.energy < 0.6 else (0.0, 1.5, 2.0, 3.0)
            for beat in hits:
                length = 2.0 if section.energy < 0.6 else 0.9
                for pitch in pitches:
                    notes.append(Note(s + beat, length, pitch, velocity))
    return notes


def _steps(chord: Chord) -> range:
    """The chord's sixteenth-note steps (a chord of ":2" has eight)."""
    return range(round(chord.length * 4))


def _chug(chord: Chord, pitches: list[int], section: Section, velocity: int) -> list[Note]:
    """Metal rhythm guitar. Verses gallop on palm-muted low roots (short, quieter
    notes: the "chug") with an open power chord on the accents; choruses ring open
    power chords on every eighth."""
    root = nearest_pitch(chord.root, 41)
    power = (root, root + 7, root + 12)
    notes: list[Note] = []
    if section.kind in ("chorus", "post-chorus", "solo", "outro"):
        for step in _steps(chord):
            if step % 2 == 0:
                accent = 0 if step % 8 == 0 else 8
                notes += [
                    Note(chord.start + step * 0.25, 0.48, p, velocity - accent) for p in power
                ]
        return notes
    accents = {0, 6, 10}
    for step in _steps(chord):
        beat = chord.start + step * 0.25
        if step % 16 in accents:
            notes += [Note(beat, 0.45, p, velocity) for p in power]
        elif step % 4 != 1:  # the gallop: eighth, two sixteenths
            notes.append(Note(beat, 0.14, root, velocity - 22))
            notes.append(Note(beat, 0.14, root + 7, velocity - 30))
    return notes


# Funk clavinet: a two-bar sixteenth-note riff; "X" a full-chord accent, "x" the
# chord's top two notes, "o" a ghosted top note.
CLAV_RIFF = ("X..x.xo.X.ox.x.o", "..X.x.oX..x.X.xo")


def _clav(chord: Chord, pitches: list[int], section: Section, velocity: int) -> list[Note]:
    riff = CLAV_RIFF[int(chord.start // 4) % 2]
    notes: list[Note] = []
    for step in _steps(chord):
        mark = riff[step % 16]
        beat = chord.start + step * 0.25
        if mark == "X":
            notes += [Note(beat, 0.16, p, velocity + 5) for p in pitches]
        elif mark == "x":
            notes += [Note(beat, 0.12, p, velocity - 8) for p in pitches[-2:]]
        elif mark == "o":
            notes.append(Note(beat, 0.08, pitches[-1], velocity - 35))
    return notes


# Jazz piano comping: a few rhythms per bar (beats, lengths), the off-beat eighths
# swung by the genre's swing; the Charleston (1, and-of-2) first.
COMP_RHYTHMS = (
    ((0.0, 1.2), (1.5, 0.4)),
    ((0.5, 0.4), (2.5, 1.2)),
    ((1.5, 0.4), (3.0, 0.9)),
    ((0.0, 0.8), (2.0, 0.4), (3.5, 0.4)),
)


def _comp(chord: Chord, pitches: list[int], section: Section, velocity: int) -> list[Note]:
    """Rootless shell voicings (third, seventh, ninth) in the middle of the piano."""
    root = pitches[0]
    shell = sorted({*pitches[1:], root + 14})
    rhythm = COMP_RHYTHMS[int(chord.start // 4 + chord.root) % len(COMP_RHYTHMS)]
    notes: list[Note] = []
    for beat, length in rhythm:
        if beat < chord.length:
            notes += [Note(chord.start + beat, length, p, velocity - 12) for p in shell]
    return notes


# Bossa nova guitar: the thumb on the bass (root, then fifth) on 1 and 3, the
# fingers on the syncopated two-bar chord pattern.
BOSSA_FINGERS = ((0, 3, 6, 10, 13), (2, 5, 8, 11, 14))


def _bossa(chord: Chord, pitches: list[int], section: Section, velocity: int) -> list[Note]:
    upper = [p if p >= 55 else p + 12 for p in pitches]
    fingers = BOSSA_FINGERS[int(chord.start // 4) % 2]
    notes: list[Note] = []
    for step in _steps(chord):
        beat = chord.start + step * 0.25
        if step in (0, 8):
            bass = pitches[0] - 12 + (7 if step == 8 else 0)
            notes.append(Note(beat, 1.9, bass, velocity - 5))
        if step in fingers:
            notes += [Note(beat + i * 0.01, 0.6, p, velocity - 15) for i, p in enumerate(upper)]
    return notes


def _ostinato(chord: Chord, pitches: list[int], section: Section, velocity: int) -> list[Note]:
    """Orchestral strings: spiccato eighths over the chord when the music moves,
    held chords when it is quiet."""
    if section.energy < 0.55:
        return [Note(chord.start, chord.length, p, velocity - 10) for p in pitches]
    figure = (pitches[0], pitches[-1], pitches[1], pitches[-1])
    return [
        Note(chord.start + k * 0.5, 0.4, figure[k % 4] - 12 * (k % 2 == 0), velocity - 8 * (k % 2))
        for k in range(int(chord.length * 2))
    ]


PATTERNED = {"chug": _chug, "clav": _clav, "comp": _comp, "bossa": _bossa, "ostinato": _ostinato}

# Funk slap bass over a bar: "T" thumbed root, "P" popped octave, "7" popped
# minor seventh, "5" thumbed fifth, "g" a ghosted dead note.
SLAP_BAR = "T.gPg.TgPgT7P.5."


def _slap(chord: Chord, root: int, velocity: int) -> list[Note]:
    notes: list[Note] = []
    offsets = {"T": (0, 0.22, 0), "P": (12, 0.15, -4), "7": (10, 0.15, -6), "5": (7, 0.2, -6)}
    for step in _steps(chord):
        mark = SLAP_BAR[step % 16]
        beat = chord.start + step * 0.25
        if mark in offsets:
            interval, length, dv = offsets[mark]
            notes.append(Note(beat, length, root + interval, velocity + dv))
        elif mark == "g":
            notes.append(Note(beat, 0.06, root, 45))
    return notes


def horns_part(chords: list[Chord], section: Section, style_name: str, bpb: int) -> list[Note]:
    """A horn section. "stab": short hits on the riff's accents (the one, the and of
    three, the and of four) in choruses and band sections; "swell": held chord
    tones that rise with the music, from the pre-chorus on."""
    notes: list[Note] = []
    if style_name == "swell":
        if section.energy < 0.55:
            return notes
        velocity = int(50 + 50 * section.energy)
    else:
        if section.sung and section.kind not in ("chorus", "post-chorus"):
            return notes
        velocity = int(70 + 35 * section.energy)
    for chord in chords:
        if chord.start < section.start or chord.start >= section.end(bpb):
            continue
        pitches = _voicing(chord, 67)
        if style_name == "swell":
            low = nearest_pitch(chord.root, 50)
            for pitch in (low, low + 7, *pitches[1:]):
                notes.append(Note(chord.start, chord.length, pitch, velocity))
            continue
        for beat, length in ((0.0, 0.35), (2.5, 0.25), (3.5, 0.4)):
            if beat < chord.length:
                notes += [Note(chord.start + beat, length, p, velocity) for p in pitches]
    return notes


def timpani_part(
    chords: list[Chord], section: Section, following: Section | None, bpb: int
) -> list[Note]:
    """Orchestral timpani on the chord roots: a hit on each chord in the big
    sections, and a crescendo roll through the bar before a bigger section."""
    notes: list[Note] = []
    end = section.end(bpb)
    if section.energy >= 0.6:
        for chord in chords:
            if section.start <= chord.start < end:
                root = nearest_pitch(chord.root, 45)
                notes.append(Note(chord.start, 1.0, root, int(80 + 40 * section.energy)))
    if following is None or following.energy > section.energy + 0.1:
        start = end - bpb
        root = nearest_pitch(chord_at(chords, start).root, 45)
        strokes = bpb * 8
        notes = [n for n in notes if n.start < start]
        for k in range(strokes):
            velocity = int(40 + 75 * k / strokes)
            notes.append(Note(start + k * 0.125, 0.125, root, velocity))
    return notes


def bass_part(
    chords: list[Chord], section: Section, style_name: str, bpb: int, mode: str, key_root: int
) -> list[Note]:
    notes: list[Note] = []
    velocity = int(80 + 30 * section.energy)
    scale_pitches(key_root, mode, 28, 52)
    for index, chord in enumerate(chords):
        if chord.start < section.start or chord.start >= section.end(bpb):
            continue
        root = nearest_pitch(chord.root, 38)
        fifth = root + 7
        s = chord.start
        if section.energy < 0.35 and style_name not in ("sub",):
            notes.append(Note(s, chord.length, root, velocity))
            continue
        if style_name == "root8":
            for k in range(int(chord.length * 2)):
                notes.append(Note(s + k * 0.5, 0.45, root, velocity - (10 if k % 2 else 0)))
        elif style_name == "offbeat":
            for k in range(int(chord.length)):
                notes.append(Note(s + k + 0.5, 0.4, root, velocity))
        elif style_name == "octave":
            for k in range(int(chord.length * 2)):
                notes.append(Note(s + k * 0.5, 0.3, root + (12 if k % 2 else 0), velocity))
        elif style_name == "alternate":
            for k in range(int(chord.length)):
                notes.append(Note(s + k, 0.9, root if k % 2 == 0 else fifth - 12, velocity))
        elif style_name == "walk":
            following = chords[index + 1].root if index + 1 < len(chords) else chord.root
            target = nearest_pitch(following, root)
            line = [root, root + chord.tones()[1], fifth]
            approach = target - 1 if target > root else target + 1
            line.append(approach if True else fifth)
            for k in range(int(chord.length)):
                notes.append(Note(s + k, 0.95, line[k % 4], velocity))
        elif style_name == "reggae":
            notes.append(Note(s, 1.4, root, velocity))
            notes.append(Note(s + 1.5, 0.5, root + 12, velocity - 20))
            notes.append(Note(s + 2.5, 1.0, fifth, velocity - 10))
        elif style_name == "sub":
            notes.append(Note(s, chord.length * 0.95, root, velocity))
        elif style_name == "slap":
            notes += _slap(chord, root, velocity)
        else:  # root4
            for k in range(int(chord.length)):
                notes.append(Note(s + k, 0.95, root, velocity))
    return notes


def lead_line(
    chords: list[Chord],
    section: Section,
    bpb: int,
    key_root: int,
    mode: str,
    rng: np.random.Generator,
    span: tuple[float, float] | None = None,
    velocity: int = 88,
) -> list[Note]:
    """A simple instrumental melody: chord tones on beats, passing tones between.

    ``span`` (start, end in beats) plays only that stretch of the section: a fill
    between two sung lines."""
    allowed = scale_pitches(key_root, mode, 64, 84)
    notes: list[Note] = []
    beat, end = span if span is not None else (section.start, section.end(bpb))
    previous = allowed[len(allowed) // 2]
    rhythm_cell = [1.0, 0.5, 0.5, 1.0, 1.0] if rng.random() < 0.5 else [1.5, 0.5, 1.0, 1.0]
    k = 0
    while beat < end - 0.01:
        length = rhythm_cell[k % len(rhythm_cell)]
        chord = chord_at(chords, beat)
        on_beat = abs(beat - round(beat)) < 1e-6
        candidates = [p for p in allowed if (p % 12 in chord.pitch_classes()) or not on_beat]
        candidates = [p for p in candidates if abs(p - previous) <= 5] or candidates
        pitch = int(candidates[int(rng.integers(len(candidates)))])
        bar_pos = (beat - section.start) % (4 * bpb)
        if bar_pos >= 4 * bpb - 2:
            length = min(end - beat, 2.0)
        notes.append(Note(beat, min(length, end - beat) * 0.95, pitch, velocity))
        previous = pitch
        beat += length
        k += 1
    return notes


def fill_spans(section: Section, vocal: list[VocalPhrase], bpb: int) -> list[tuple[float, float]]:
    """Where a player answers the singer in ``section``: from a beat and a half into
    each line's last (held) note to half a beat before the next line, when that
    leaves at least a beat and a half. The words are sung by then; the answer sits
    under the held vowel and the breath."""
    end = section.end(bpb)
    lines = sorted(
        (p.notes[-1].start, p.start) for p in vocal if section.start <= p.start < end and p.notes
    )
    starts = [start for _, start in lines[1:]] + [end]
    spans: list[tuple[float, float]] = []
    for (last_note, _), following in zip(lines, starts, strict=True):
        start, stop = math.ceil((last_note + 1.5) * 2) / 2, min(following, end) - 0.5
        if stop - start >= 1.5:
            spans.append((start, stop))
    return spans


def build_tracks(
    style: Style,
    profile: GenreProfile,
    sections: list[Section],
    chords: list[Chord],
    seed: int,
    bpb: int = 4,
    vocal: list[VocalPhrase] | None = None,
) -> list[Track]:
    rng = np.random.default_rng(seed ^ 0x5EED)
    synth = profile.synth_parts
    machine = "drums" in synth or style.drum_machine
    drums = Track("drums", "drums", program=-1, source="synth-drums" if machine else "soundfont")
    bass = Track(
        "bass",
        "bass",
        program=profile.bass_program,
        source="synth-bass" if "bass" in synth else "soundfont",
        gain_db=-1.0,
    )
    chord_program = style.instruments.get("chords", profile.chords_program)
    chord_track = Track(
        "chords",
        "chords",
        program=chord_program,
        source="synth-stab"
        if "chords" in synth and "chords" not in style.instruments
        else "soundfont",
        pan=-0.25,
        gain_db=-3.0,
    )
    pad_program = style.instruments.get("pad", profile.pad_program)
    pad = Track(
        "pad",
        "pad",
        program=pad_program or 89,
        source="synth-pad" if "pad" in synth else "soundfont",
        pan=0.25,
        gain_db=-8.0,
    )
    lead_program = style.instruments.get("lead", profile.lead_program)
    lead = Track(
        "lead",
        "lead",
        program=lead_program,
        source="synth-lead" if "lead" in synth and "lead" not in style.instruments else "soundfont",
        pan=0.15,
        gain_db=-4.0,
    )
    colour_program = style.instruments.get("colour", profile.colour_program)
    colour = Track("colour", "colour", program=colour_program or 11, pan=0.45, gain_db=-9.0)
    horns = Track("horns", "horns", program=profile.horns_program or 61, pan=-0.1)
    timpani = Track("timpani", "timpani", program=47, pan=0.1)

    use_drums = style.drums and profile.drums != "none"
    for number, section in enumerate(sections):
        is_last = number == len(sections) - 1
        following = sections[number + 1] if not is_last else None
        if (use_drums and section.kind != "intro") or (use_drums and section.energy >= 0.4):
            for bar in range(section.bars):
                bar_start = section.start + bar * bpb
                last_bar = bar == section.bars - 1
                fill = (
                    last_bar and following is not None and following.energy > section.energy + 0.1
                )
                crash = bar == 0 and section.energy >= 0.6
                if is_last and last_bar:
                    drums.notes.append(Note(bar_start, 2.0, 49, 100))
                    drums.notes.append(Note(bar_start, 1.0, 36, 110))
                    continue
                groove = max(section.energy, profile.beat_floor)
                drums.notes += drum_bar(profile.drums, bar_start, groove, fill, crash)
        bass.notes += bass_part(chords, section, profile.bass, bpb, style.mode, style.key_root)
        if section.kind == "intro" and section.energy < 0.3:
            bass.notes = [n for n in bass.notes if n.start < section.start]
        chord_track.notes += chord_part(chords, section, profile.chords_style, bpb)
        wants_pad = profile.pad_program is not None or "pad" in style.instruments
        if wants_pad and (
            section.energy >= 0.55 or profile.name in ("ambient", "classical", "ballad")
        ):
            pad.notes += chord_part(chords, section, "pad", bpb)
        # The lead fills the sections nobody sings in (short intros stay bare).
        if (
            not section.sung
            and section.kind != "break"
            and (section.kind != "intro" or section.bars >= 4)
        ):
            lead.notes += lead_line(chords, section, bpb, style.key_root, style.mode, rng)
        elif section.sung and profile.fills and vocal:
            for span in fill_spans(section, vocal, bpb):
                lead.notes += lead_line(
                    chords, section, bpb, style.key_root, style.mode, rng, span, velocity=72
                )
        if colour_program is not None and section.energy >= 0.6:
            colour.notes += _colour_part(chords, section, bpb)
        if profile.horns_program is not None:
            horns.notes += horns_part(chords, section, profile.horns_style, bpb)
        if profile.timpani and style.drums:
            timpani.notes += timpani_part(chords, section, following, bpb)

    # Final chord rings out.
    if sections:
        last = sections[-1]
        final = chord_at(chords, last.end(bpb) - 0.5)
        tail = last.end(bpb) - bpb
        chord_track.notes = [n for n in chord_track.notes if n.start < tail]
        for pitch in _voicing(final, 62):
            chord_track.notes.append(Note(tail, float(bpb), pitch, 80))
        bass.notes = [n for n in bass.notes if n.start < tail]
        horns.notes = [n for n in horns.notes if n.start < tail]
        bass.notes.append(Note(tail, float(bpb), nearest_pitch(final.root, 38), 90))

    if profile.swing > 0:
        for track in (drums, bass, chord_track, lead, colour, horns):
            track.notes = [
                Note(_swing(n.start, profile.swing), n.length, n.pitch, n.velocity)
                for n in track.notes
            ]
    tracks = [drums, bass, chord_track, pad, lead, colour, horns, timpani]
    return [t for t in tracks if t.notes]


def _colour_part(chords: list[Chord], section: Section, bpb: int) -> list[Note]:
    """High sparkle: the chord's top tones, one per beat, an octave up."""
    notes: list[Note] = []
    for chord in chords:
        if chord.start < section.start or chord.start >= section.end(bpb):
            continue
        pitches = _voicing(chord, 76)
        for k in range(int(chord.length)):
            notes.append(Note(chord.start + k + 0.5, 0.45, pitches[k % len(pitches)], 70))
    return notes
