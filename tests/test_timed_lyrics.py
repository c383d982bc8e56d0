"""output.lyrics and the enhanced LRC file, from an engine's timed lines."""

from __future__ import annotations

import re

from songforge.engines.base import TimedLine, TimedWord
from songforge.timed_lyrics import enhanced_lrc, lrc_time, lyrics_json

LINES = (
    TimedLine(
        "Hello bright world",
        1.0,
        2.4567,
        (
            TimedWord("Hello", 1.0, 1.4),
            TimedWord("bright", 1.5, 1.9),
            TimedWord("world", 2.0, 2.4567),
        ),
    ),
    TimedLine("Again", 65.125, 66.0, (TimedWord("Again", 65.125, 66.0),)),
)


def test_json_has_lines_of_words_in_seconds_rounded_to_the_millisecond() -> None:
    found = lyrics_json(LINES)
    assert found["lines"][0] == {
        "text": "Hello bright world",
        "start": 1.0,
        "end": 2.457,
        "words": [
            {"text": "Hello", "start": 1.0, "end": 1.4},
            {"text": "bright", "start": 1.5, "end": 1.9},
            {"text": "world", "start": 2.0, "end": 2.457},
        ],
    }
    assert found["lines"][1]["start"] == 65.125


def test_lrc_times_are_minutes_seconds_centiseconds() -> None:
    assert lrc_time(0) == "00:00.00"
    assert lrc_time(65.125) == "01:05.13" or lrc_time(65.125) == "01:05.12"
    assert lrc_time(59.999) == "01:00.00"
    assert lrc_time(6000.0) == "100:00.00"
    assert lrc_time(-1.0) == "00:00.00"


def test_enhanced_lrc_tags_every_word_and_the_line_end() -> None:
    text = enhanced_lrc(LINES, length_seconds=70.0)
    lines = text.splitlines()
    assert lines[:2] == ["[re:songforge]", "[length:01:10.00]"]
    assert lines[2] == "[00:01.00]<00:01.00>Hello <00:01.50>bright <00:02.00>world <00:02.46>"
    assert lines[3].startswith("[01:05.") and lines[3].endswith("<01:06.00>")
    # Every line: one [time] then, per word, <time>word; no other brackets.
    tagged = re.compile(
        r"^\[\d{2,}:\d{2}\.\d{2}\](<\d{2,}:\d{2}\.\d{2}>\S+ )+<\d{2,}:\d{2}\.\d{2}>$"
    )
    assert all(tagged.match(line) for line in lines[2:])
    assert text.endswith("\n")


def test_no_lines_gives_a_header_only_file() -> None:
    assert enhanced_lrc(()) == "[re:songforge]\n"
    assert lyrics_json(()) == {"lines": []}
