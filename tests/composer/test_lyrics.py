from __future__ import annotations

from songforge.composer.lyrics import parse_lyrics, tag_kind


def test_tags_case_insensitive_and_numbered() -> None:
    assert tag_kind("VERSE 2") == "verse"
    assert tag_kind("Pre Chorus") == "pre-chorus"
    assert tag_kind("pre-chorus 1") == "pre-chorus"
    assert tag_kind("Post Chorus") == "post-chorus"
    assert tag_kind("Build Up") == "build-up"
    assert tag_kind("Hook") == "chorus"
    assert tag_kind("Inst") == "interlude"
    assert tag_kind("whatever") is None


def test_sections_lines_and_pauses() -> None:
    sections = parse_lyrics("[Verse 1]\nHello world!\n\nSecond line\n[CHORUS]\nLa la la\n")
    assert [s.kind for s in sections] == ["verse", "chorus"]
    verse = sections[0]
    assert [line.words for line in verse.lines] == [("Hello", "world"), ("Second", "line")]
    assert verse.lines[0].pause_after and not verse.lines[1].pause_after


def test_empty_tagged_sections_stay_as_instrumental_parts() -> None:
    sections = parse_lyrics("[Intro]\n[Verse]\nOne line here\n[Solo]\n[Outro]\n")
    assert [(s.kind, s.sung) for s in sections] == [
        ("intro", False),
        ("verse", True),
        ("solo", False),
        ("outro", False),
    ]


def test_untagged_repeated_stanza_is_the_chorus() -> None:
    sections = parse_lyrics("walking alone\n\nsing it loud\n\nfalling down\n\nsing it loud\n")
    assert [s.kind for s in sections] == ["verse", "chorus", "verse", "chorus"]


def test_no_words_means_instrumental() -> None:
    assert parse_lyrics("") == []
    assert parse_lyrics("[Verse]\n[Chorus]\n") == []
    assert parse_lyrics("...!!! ??? ---\n\n***") == []
    assert parse_lyrics("🎵 🎶") == []


def test_other_scripts_are_words() -> None:
    sections = parse_lyrics("[Verse]\n你好 世界\nпривет мир\n")
    assert [line.words for line in sections[0].lines] == [("你好", "世界"), ("привет", "мир")]


def test_huge_lyrics_are_capped() -> None:
    sections = parse_lyrics("\n".join(["la " * 200] * 500))
    lines = [line for s in sections for line in s.lines]
    assert len(lines) <= 96
    assert all(len(line.words) <= 24 for line in lines)
