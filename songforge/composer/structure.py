"""A whole song from however many lyric lines the user gave.

A songwriter given two lines does not sing them once and stop: the lines
become a verse and a hook, the hook comes back as a chorus, there is a solo
or bridge, and the song ends on its chorus. ``song_sections`` makes sure the
lyrics have a chorus (the user's own, or one built from their last lines);
``extension_blocks`` lists, in the order a songwriter would add them, the
sections that can follow the user's lyrics when the song is still short
(second verse and chorus, a solo and a chorus, a last chorus...). The form
planner appends blocks until the song reaches its target length.

The user's lines are always sung once, in order, before any repeat.
"""

from __future__ import annotations

from collections.abc import Iterator

from songforge.composer.lyrics import LyricLine, LyricSection

# A chorus built from the user's lines takes at most this many of them.
HOOK_LINES = 4
# Songs longer than this many blocks are no longer "a short lyric repeated".
MAX_BLOCKS = 12


def _copy(section: LyricSection, kind: str | None = None, label: str | None = None) -> LyricSection:
    lines = [LyricLine(line.text, line.words) for line in section.lines]
    return LyricSection(kind or section.kind, label or section.label, lines)


def song_sections(user: list[LyricSection]) -> list[LyricSection]:
    """The user's sections, with a chorus after each verse run when the lyrics have none."""
    sung = [s for s in user if s.lines]
    if not sung or any(s.kind == "chorus" for s in sung):
        return list(user)
    hook_source = sung[-1]
    chorus = LyricSection(
        "chorus", "chorus", [LyricLine(x.text, x.words) for x in hook_source.lines[-HOOK_LINES:]]
    )
    result: list[LyricSection] = []
    last = user.index(sung[-1])
    for index, section in enumerate(user):
        result.append(section)
        following = next((s for s in user[index + 1 :] if s.lines), None)
        if index == last:
            result.append(_copy(chorus))
        elif len(section.lines) >= 3 and following is not None and following.kind == "verse":
            # Two-line verses pair up before the hook (a chorus after each couplet is
            # too often).
            result.append(_copy(chorus))
    return result


def extension_blocks(sections: list[LyricSection]) -> Iterator[list[LyricSection]]:
    """Blocks of sections to append, in order, until the song is long enough.

    Second verse + (pre-chorus) + chorus, a solo + chorus, a final chorus;
    then verses cycle. Every block ends on a chorus so the song can stop there.
    """
    chorus = next((s for s in sections if s.kind == "chorus" and s.lines), None)
    if chorus is None:
        return
    verses = [s for s in sections if s.kind == "verse" and s.lines] or [chorus]
    pre = next((s for s in sections if s.kind == "pre-chorus" and s.lines), None)
    has_bridge = any(s.kind in ("bridge", "solo") for s in sections)

    def verse_block(number: int) -> list[LyricSection]:
        verse = verses[number % len(verses)]
        block = [_copy(verse, "verse", f"verse {number + 2}")]
        if pre is not None:
            block.append(_copy(pre))
        block.append(_copy(chorus))
        return block

    yield verse_block(0)
    middle = "interlude" if has_bridge else "solo"
    yield [LyricSection(middle, middle), _copy(chorus)]
    yield [_copy(chorus, label="final chorus")]
    for number in range(MAX_BLOCKS - 3):
        yield verse_block(number)
