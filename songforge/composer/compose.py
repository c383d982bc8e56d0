"""From prompt and lyrics to a ``Score``: form, harmony, melody and arrangement.

Nothing here makes sound; the score is the contract between composing and
rendering (and what tests compare the rendered vocal against).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace

from songforge.composer.arrangement import build_tracks
from songforge.composer.form import PlannedSection, fit_duration, plan_form
from songforge.composer.genres import GENRES
from songforge.composer.harmony import section_chords
from songforge.composer.lyrics import LyricSection, parse_lyrics
from songforge.composer.melody import LineSyllable, harmony_pitch, line_melody
from songforge.composer.phonemes import phonemize_words
from songforge.composer.prompt import Style, parse_prompt
from songforge.composer.score import Chord, Score, Section, VocalPhrase
from songforge.composer.structure import extension_blocks, song_sections
from songforge.composer.syllables import Syllable, split_syllables

DEFAULT_MAX_SECONDS = 300.0
BEATS_PER_BAR = 4
# A song made without a requested duration: about two and a half minutes
# (radio length is 2.5-3.5 min; shorter keeps the render fast), never under a minute.
DEFAULT_SONG_SECONDS = 150.0
MIN_SONG_SECONDS = 60.0
# Blocks may overshoot the default length by this much rather than stop short.
OVERSHOOT_SECONDS = 20.0
# The last chord rings this long after the form ends (inside a requested length).
RING_SECONDS = 1.5
# How far the tempo may bend (either way) to land a requested length on the form.
TEMPO_BEND = 0.08


def stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8", "replace"))
    return int.from_bytes(digest.digest()[:4], "big")


def effective_seed(prompt: str, lyrics: str, seed: int) -> int:
    """The request's own seed mixed with its text: seed 0 (the default) still varies by song."""
    return stable_seed(prompt.strip(), lyrics.strip(), seed)


def _word_syllables(words: list[str]) -> dict[str, list[Syllable]]:
    ipa = phonemize_words(words)
    result: dict[str, list[Syllable]] = {}
    for word in words:
        syllables = split_syllables(ipa.get(word, ""), word)
        if not syllables:
            # Nothing pronounceable: sing the word as one open vowel.
            syllables = [Syllable(onset="", nucleus="ɑː", coda="", stress=1)]
        result[word] = syllables
    return result


def _line_syllables(words: tuple[str, ...], table: dict[str, list[Syllable]]) -> list[LineSyllable]:
    items: list[LineSyllable] = []
    for word in words:
        for index, syllable in enumerate(table[word]):
            items.append(LineSyllable(syllable, word, index == 0))
    return items


def compose(
    prompt: str,
    lyrics: str,
    seed: int,
    max_seconds: float | None = None,
    style: Style | None = None,
    target_seconds: float | None = None,
) -> Score:
    """The song's score. ``target_seconds``: the audio is exactly this long (a
    requested duration); otherwise the song is about DEFAULT_SONG_SECONDS, never
    longer than ``max_seconds``."""
    style = style or parse_prompt(prompt)
    rng_seed = effective_seed(prompt, lyrics, seed)
    if "key" not in style.explicit:
        style = replace(style, key_root=rng_seed % 12)
    if "bpm" not in style.explicit:
        lo, hi = GENRES[style.genre].bpm
        jitter = ((rng_seed >> 8) % 7) - 3
        style = replace(style, bpm=float(min(hi + 2, max(lo - 2, round(style.bpm + jitter)))))
    profile = GENRES[style.genre]
    lyric_sections: list[LyricSection] = [] if style.instrumental else parse_lyrics(lyrics)

    words = sorted({w for s in lyric_sections for line in s.lines for w in line.words})
    table = _word_syllables(words) if words else {}
    counts = {
        line.text: len(_line_syllables(line.words, table))
        for s in lyric_sections
        for line in s.lines
    }
    limit = min(max_seconds or DEFAULT_MAX_SECONDS, DEFAULT_MAX_SECONDS)
    if target_seconds is not None:
        target_seconds = max(1.0, min(float(target_seconds), limit))
        limit = target_seconds
    syllable_seconds = profile.syllable_seconds
    planned = _whole_song(lyric_sections, counts, style, syllable_seconds, limit, target_seconds)
    fitted = limit - RING_SECONDS if target_seconds is not None else limit
    planned = fit_duration(planned, fitted * style.bpm / 60.0, BEATS_PER_BAR)
    if target_seconds is None:
        planned = _at_least_a_minute(planned, style.bpm, limit)
    if target_seconds is not None:
        style, planned = _land_on(target_seconds, planned, style)

    sections: list[Section] = []
    chords: list[Chord] = []
    vocal: list[VocalPhrase] = []
    cursor = 0.0
    for number, plan in enumerate(planned):
        final = number == len(planned) - 1
        section = Section(
            kind=plan.kind,
            label=plan.label,
            start=cursor,
            bars=plan.bars,
            energy=plan.energy,
            sung=bool(plan.lines),
        )
        sections.append(section)
        section_chord_list = section_chords(
            profile, style.key_root, style.mode, plan.kind, cursor, plan.bars, BEATS_PER_BAR, final
        )
        chords += section_chord_list
        vocal += _sing_section(
            plan,
            number,
            cursor,
            section_chord_list,
            style,
            table,
            rng_seed,
            final_section=final or planned[number + 1].kind == "outro",
        )
        cursor += plan.bars * BEATS_PER_BAR

    tracks = build_tracks(style, profile, sections, chords, rng_seed, BEATS_PER_BAR, vocal)
    return Score(
        bpm=style.bpm,
        key_root=style.key_root,
        mode=style.mode,
        genre=style.genre,
        sections=sections,
        chords=chords,
        tracks=tracks,
        vocal=vocal,
        voice=style.voice,
        beats_per_bar=BEATS_PER_BAR,
        swing=profile.swing,
        seed=rng_seed,
        length_seconds=target_seconds,
    )


def _form_seconds(planned: list[PlannedSection], bpm: float) -> float:
    return sum(p.bars for p in planned) * BEATS_PER_BAR * 60.0 / bpm


def _whole_song(
    lyric_sections: list[LyricSection],
    counts: dict[str, int],
    style: Style,
    syllable_seconds: float,
    limit: float,
    target_seconds: float | None,
) -> list[PlannedSection]:
    """The user's sections grown, block by block, into a song of the wanted length."""

    def plan(sections: list[LyricSection]) -> list[PlannedSection]:
        return plan_form(
            sections,
            counts,
            style.bpm,
            style.energy,
            BEATS_PER_BAR,
            syllable_seconds,
            GENRES[style.genre].frame_bars,
        )

    sections = song_sections(lyric_sections)
    planned = plan(sections)
    if not sections:
        return planned
    goal = target_seconds - RING_SECONDS if target_seconds is not None else DEFAULT_SONG_SECONDS
    goal = min(goal, limit)
    ceiling = goal if target_seconds is not None else min(limit, goal + OVERSHOOT_SECONDS)
    for block in extension_blocks(sections):
        if _form_seconds(planned, style.bpm) >= goal:
            break
        candidate = plan(sections + block)
        seconds = _form_seconds(candidate, style.bpm)
        short = _form_seconds(planned, style.bpm) < MIN_SONG_SECONDS
        if seconds > ceiling and not (short and target_seconds is None and seconds <= limit):
            break
        sections = sections + block
        planned = candidate
    return planned


def _at_least_a_minute(
    planned: list[PlannedSection], bpm: float, limit: float
) -> list[PlannedSection]:
    """Whatever the lyrics (one unpronounceable 3,500-character "word" sings as almost
    nothing), a song lasts a minute (or its limit): the outro plays on."""
    missing = min(MIN_SONG_SECONDS, limit) - _form_seconds(planned, bpm)
    if missing > 0 and planned:
        bar = BEATS_PER_BAR * 60.0 / bpm
        extra = math.ceil(missing / bar - 1e-9)
        if _form_seconds(planned, bpm) + extra * bar > limit + 1e-9:
            extra -= 1  # never past the limit
        if extra <= 0:
            return planned
        if planned[-1].lines:
            planned.append(PlannedSection("outro", "outro", extra, 0.3))
        else:
            planned[-1].bars += extra
    return planned


def _land_on(
    target_seconds: float, planned: list[PlannedSection], style: Style
) -> tuple[Style, list[PlannedSection]]:
    """Bend the tempo (unless the prompt set it) and lengthen the outro so the form
    ends RING_SECONDS before ``target_seconds``; the renderer cuts the audio there."""
    goal = max(0.5, target_seconds - RING_SECONDS)
    beats = sum(p.bars for p in planned) * BEATS_PER_BAR
    if beats <= 0:
        return style, planned
    if "bpm" not in style.explicit:
        wanted = beats * 60.0 / goal
        bent = min(style.bpm * (1 + TEMPO_BEND), max(style.bpm * (1 - TEMPO_BEND), wanted))
        style = replace(style, bpm=round(bent, 2))
    missing = goal - _form_seconds(planned, style.bpm)
    bar_seconds = BEATS_PER_BAR * 60.0 / style.bpm
    if missing > 0 and planned:
        extra = math.ceil(missing / bar_seconds - 1e-9)
        last = planned[-1]
        if last.lines:
            planned = [*planned, PlannedSection("outro", "outro", extra, 0.3)]
        else:
            last.bars += extra
    return style, planned


def _sing_section(
    plan: PlannedSection,
    number: int,
    start: float,
    chords: list[Chord],
    style: Style,
    table: dict[str, list[Syllable]],
    seed: int,
    final_section: bool,
) -> list[VocalPhrase]:
    phrases: list[VocalPhrase] = []
    harmony = plan.kind in ("chorus", "post-chorus")
    for planned in plan.lines:
        syllables = _line_syllables(planned.line.words, table)
        if not syllables:
            continue
        # Choruses alternate two tunes (a hook that comes back); verse lines keep
        # their tune across verses.
        position = planned.index % 2 if harmony else planned.index
        last_line = planned.index == len(plan.lines) - 1
        notes = line_melody(
            syllables,
            start + planned.start,
            planned.beats,
            chords,
            style.key_root,
            style.mode,
            style.voice,
            style.voice_character,
            plan.kind,
            final_line=last_line and (final_section or harmony),
            seed=stable_seed(seed, plan.kind, position, len(syllables)),
            seconds_per_beat=60.0 / style.bpm,
            syllable_seconds=GENRES[style.genre].syllable_seconds,
        )
        if not notes:
            continue
        phrases.append(
            VocalPhrase(
                text=planned.line.text,
                words=planned.line.words,
                word_phonemes=tuple(
                    "".join(s.phonemes for s in table[w]) for w in planned.line.words
                ),
                notes=tuple(notes),
                section=number,
                harmony=harmony,
            )
        )
    return phrases


def harmony_line(phrase: VocalPhrase, score: Score) -> list[int]:
    return [harmony_pitch(n, score.chords, score.key_root, score.mode) for n in phrase.notes]
