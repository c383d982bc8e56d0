"""Timed lyrics from the score and the singer's layout (no audio here)."""

from __future__ import annotations

from songforge.composer.score import SungNote, VocalPhrase
from songforge.composer.timing import SungLine, timed_lyrics, written_words


def _note(start: float, onset: str, nucleus: str, coda: str, word: str, first: bool) -> SungNote:
    return SungNote(
        start=start,
        length=1.0,
        pitch=60,
        syllable=onset + nucleus + coda,
        onset=onset,
        nucleus=nucleus,
        coda=coda,
        word=word,
        stressed=True,
        word_start=first,
    )


def test_written_words_keep_punctuation_and_drop_lone_marks() -> None:
    text = "Hello, world! — (yeah) rock&roll don’t stop..."
    assert written_words(text, 7) == [
        "Hello,",
        "world!",
        "(yeah)",
        "rock&",
        "roll",
        "don’t",
        "stop...",
    ]
    assert written_words(text, 2) == ["Hello,", "world!"]


# Three words on two notes: "on" was folded into the first note's coda (a line too
# long for its bars), so it begins inside that note.
PHRASE = VocalPhrase(
    text="Hold on, tight!",
    words=("Hold", "on", "tight"),
    word_phonemes=("hoʊld", "ɑn", "taɪt"),
    notes=(
        _note(0.0, "h", "oʊ", "ldɑn", "Hold on", True),
        _note(1.0, "t", "aɪ", "t", "tight", True),
    ),
    section=0,
)
# Per note: sound start, vowel start, vowel end, sound end (phrase seconds).
LAYOUT = ((-0.1, 0.0, 0.3, 0.7), (0.8, 1.0, 1.3, 1.4))


def test_words_start_at_their_first_sound_and_merged_words_inside_the_note() -> None:
    (line,) = timed_lyrics([SungLine(PHRASE, 10.0, LAYOUT)], song_seconds=60.0)
    assert line.text == "Hold on, tight!"
    assert [w.text for w in line.words] == ["Hold", "on,", "tight!"]
    hold, on, tight = line.words
    assert (hold.start, tight.start, tight.end) == (9.9, 10.8, 11.4)
    # "on" is the coda's 3rd..4th phonemes of note 1 ("ld|ɑn"): inside [0.3, 0.7].
    assert hold.end == on.start == 10.5
    assert on.end == 10.7
    assert (line.start, line.end) == (9.9, 11.4)


def test_repeats_are_listed_each_time_in_time_order_and_cut_at_the_song_end() -> None:
    later = SungLine(PHRASE, 30.0, LAYOUT)
    earlier = SungLine(PHRASE, 10.0, LAYOUT)
    cut = SungLine(PHRASE, 59.8, LAYOUT)
    lines = timed_lyrics([later, cut, earlier], song_seconds=60.5)
    assert [line.start for line in lines] == [9.9, 29.9, 59.7]
    # The last one is heard only until the song ends: "tight" starts after it.
    assert [w.text for w in lines[-1].words] == ["Hold", "on,"]
    assert lines[-1].end == 60.5
    starts = [w.start for line in lines for w in line.words]
    assert starts == sorted(starts)


def test_a_word_sung_before_the_song_starts_is_clamped_to_zero() -> None:
    (line,) = timed_lyrics([SungLine(PHRASE, 0.0, LAYOUT)], song_seconds=5.0)
    assert line.words[0].start == 0.0
