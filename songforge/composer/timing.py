"""When each lyric line and word is heard: from the score and the singer's layout.

The score says on which beat each syllable's vowel starts; the singer decides how
far ahead of it the consonants begin and when the sound ends (``SungPhrase.layout``).
A word starts where its first sound starts and ends where its last sound ends.

Words are given as the user wrote them (punctuation kept on the word), in the
order sung; a line sung twice (a chorus) is listed each time. When the melody had
to fold a syllable into its neighbour (a line too long for its bars), a word may
begin inside a note: its time is then placed within the note in proportion to
its phonemes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from songforge.composer.lyrics import WORD_RE
from songforge.composer.score import VocalPhrase
from songforge.engines.base import TimedLine, TimedWord

# Per note: sound start, vowel start, vowel end, sound end (seconds from the phrase's
# first note), as SungPhrase.layout.
NoteLayout = tuple[float, float, float, float]
_TOKEN_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class SungLine:
    """A lead phrase as placed in the song: where its first note falls, and the layout."""

    phrase: VocalPhrase
    start: float  # seconds of the song at which the phrase's first note starts
    layout: tuple[NoteLayout, ...]


def written_words(text: str, count: int) -> list[str]:
    """The first ``count`` sung words of ``text`` as written, punctuation kept.

    Sung words are what ``lyrics.split_words`` finds; the characters around a word
    (a comma, brackets, quotes) stay with it, and a token holding two sung words
    ("rock&roll") is cut where the second begins. Lone punctuation is not a word.
    """
    pieces: list[str] = []
    for token in _TOKEN_RE.finditer(text):
        word = token.group(0)
        starts = [m.start() for m in WORD_RE.finditer(word)]
        for index, begin in enumerate(starts):
            end = starts[index + 1] if index + 1 < len(starts) else len(word)
            pieces.append(word[0 if index == 0 else begin : end])
    return pieces[:count]


def _note_time(layout: NoteLayout, onset: int, nucleus: int, coda: int, at: int) -> float:
    """Seconds (phrase time) at which phoneme ``at`` of a note begins (``at`` may be its length)."""
    sound, vowel, vowel_end, end = layout
    if at < onset:
        return sound + (vowel - sound) * at / onset
    at -= onset
    if at < nucleus:
        return vowel + (vowel_end - vowel) * at / nucleus
    at -= nucleus
    if at < coda:
        return vowel_end + (end - vowel_end) * at / coda
    return end


def _phrase_words(line: SungLine) -> list[tuple[float, float]]:
    """(start, end) in phrase seconds of each of the phrase's words."""
    phrase = line.phrase
    notes = phrase.notes
    # Character offsets of notes and words in the phrase's phoneme string; merged
    # syllables keep their phonemes in order, so both cut the same string.
    note_edges: list[int] = [0]
    for note in notes:
        note_edges.append(note_edges[-1] + len(note.phonemes))
    word_edges: list[int] = [0]
    for ipa in phrase.word_phonemes:
        word_edges.append(word_edges[-1] + len(ipa))
    if note_edges[-1] != word_edges[-1] or len(phrase.word_phonemes) != len(phrase.words):
        return _by_word_starts(line)

    def time_at(offset: int, closing: bool) -> float:
        # The note holding phoneme ``offset`` (or, closing a word, the one ending there).
        for index, note in enumerate(notes):
            lo, hi = note_edges[index], note_edges[index + 1]
            if lo <= offset < hi or (closing and lo < offset <= hi):
                return _note_time(
                    line.layout[index],
                    len(note.onset),
                    len(note.nucleus),
                    len(note.coda),
                    offset - lo,
                )
        return line.layout[-1][3]

    spans: list[tuple[float, float]] = []
    for index in range(len(phrase.words)):
        lo, hi = word_edges[index], word_edges[index + 1]
        start = time_at(lo, closing=False)
        end = time_at(hi, closing=True) if hi > lo else start
        spans.append((start, max(start, end)))
    return spans


def _by_word_starts(line: SungLine) -> list[tuple[float, float]]:
    """Fallback: words begin on notes marked ``word_start`` (merged notes hide some)."""
    starts = [i for i, n in enumerate(line.phrase.notes) if n.word_start or i == 0]
    spans: list[tuple[float, float]] = []
    for k, first in enumerate(starts):
        last = (starts[k + 1] if k + 1 < len(starts) else len(line.phrase.notes)) - 1
        spans.append((line.layout[first][0], line.layout[last][3]))
    while len(spans) < len(line.phrase.words):
        spans.append(spans[-1])
    return spans[: len(line.phrase.words)]


def timed_lyrics(lines: Iterable[SungLine], song_seconds: float) -> tuple[TimedLine, ...]:
    """Every sung line with its words, in time order, inside ``[0, song_seconds]``.

    A word that starts after the song ends (the audio was cut at a requested
    length) is not heard and not listed; one cut short ends with the song.
    """
    result: list[TimedLine] = []
    for line in sorted(lines, key=lambda item: item.start):
        phrase = line.phrase
        texts: Sequence[str] = written_words(phrase.text, len(phrase.words))
        if len(texts) != len(phrase.words):
            texts = phrase.words
        words: list[TimedWord] = []
        for text, (start, end) in zip(texts, _phrase_words(line), strict=True):
            begin = max(0.0, line.start + start)
            if begin >= song_seconds:
                break
            finish = min(song_seconds, max(begin, line.start + end))
            words.append(TimedWord(text=text, start=round(begin, 3), end=round(finish, 3)))
        if words:
            result.append(
                TimedLine(
                    text=phrase.text,
                    start=words[0].start,
                    end=max(w.end for w in words),
                    words=tuple(words),
                )
            )
    return tuple(result)
