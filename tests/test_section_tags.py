"""One list of section tags (issue 10, point 11): every tag validation accepts is
treated as a tag by every engine, never sung as words."""

from __future__ import annotations

import pytest

from songforge.composer.lyrics import parse_lyrics as composer_sections
from songforge.engines.ace_step import ace_lyrics
from songforge.engines.minimax_music3 import m3_lyrics
from songforge.section_tags import ALIASES, SECTION_TAGS, parse_section_tag
from songforge.services.errors import InvalidField
from songforge.services.music_request import parse_music_request


def _spellings(tag: str) -> list[str]:
    words = tag.split()
    return [
        tag.title(),
        tag.upper(),
        "-".join(words),
        "".join(words),
        f"{tag.title()} 2",
    ]


ACCEPTED = [(tag, spelling) for tag in SECTION_TAGS for spelling in _spellings(tag)]
SUNG = "hello bright morning"


def _lyrics(spelling: str) -> str:
    return f"[{spelling}]\n{SUNG}"


def _accepted_by_validation(lyrics: str) -> bool:
    try:
        parse_music_request({"model": "m", "prompt": "p", "lyrics": lyrics})
    except InvalidField:
        return False
    return True


@pytest.mark.parametrize(("tag", "spelling"), ACCEPTED)
def test_validation_accepts_every_spelling_of_every_tag(tag: str, spelling: str) -> None:
    assert _accepted_by_validation(_lyrics(spelling))
    parsed = parse_section_tag(spelling)
    assert parsed is not None and parsed[0] == ALIASES.get(tag, tag)


@pytest.mark.parametrize("word", ["Refrain", "End", "Ending", "Versed", "Chorus!", "Build"])
def test_words_outside_the_list_are_refused_by_validation(word: str) -> None:
    assert not _accepted_by_validation(_lyrics(word))
    assert parse_section_tag(word) is None


@pytest.mark.parametrize(("tag", "spelling"), ACCEPTED)
def test_minimax_music3_sends_every_accepted_tag_as_a_tag(tag: str, spelling: str) -> None:
    lines = m3_lyrics(_lyrics(spelling)).split("\n")
    canonical = ALIASES.get(tag, tag)
    assert lines == [f"[{canonical}]", SUNG]


def test_minimax_music3_sends_instrumental_as_its_inst_tag_not_as_words() -> None:
    # The adapter's own list used to lack it: "[Instrumental]" was sung as words.
    assert m3_lyrics("[Instrumental]\nla la\n[Verse]\nhello") == "[inst]\nla la\n[verse]\nhello"


@pytest.mark.parametrize(("tag", "spelling"), ACCEPTED)
def test_ace_step_sends_every_accepted_tag_as_a_tag(tag: str, spelling: str) -> None:
    lines = ace_lyrics(_lyrics(spelling)).split("\n")
    canonical = ALIASES.get(tag, tag)
    expected = f"[{canonical} 2]" if spelling.endswith(" 2") else f"[{canonical}]"
    assert lines == [expected, SUNG]


@pytest.mark.parametrize(("tag", "spelling"), ACCEPTED)
def test_the_composer_reads_every_accepted_tag_as_a_section(tag: str, spelling: str) -> None:
    sections = composer_sections(_lyrics(spelling))
    assert len(sections) == 1
    assert [line.text for line in sections[0].lines] == [SUNG]
    assert spelling.lower() not in " ".join(w.lower() for w in sections[0].lines[0].words)


def test_the_composer_does_not_take_words_outside_the_list_for_tags() -> None:
    # "[Refrain]" used to open a chorus here while validation refused it.
    sections = composer_sections("[Refrain]\nhello")
    assert [s.kind for s in sections] == ["verse"]
