"""Reading lyrics: section tags, lines, words and pauses.

Tags follow api.md (``[Verse]``, ``[Pre Chorus]``, ``[Chorus 2]``...), matched
case-insensitively; unknown tags are kept as verses. A blank line is a pause
(a longer rest after the line before it). Lyrics without tags are split into
stanzas at blank lines, and a stanza that repeats is taken as the chorus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from songforge.section_tags import parse_section_tag

# The composer's section kind for each tag of the one list (songforge.section_tags).
TAG_KINDS: dict[str, str] = {
    "intro": "intro",
    "verse": "verse",
    "pre chorus": "pre-chorus",
    "chorus": "chorus",
    "post chorus": "post-chorus",
    "bridge": "bridge",
    "interlude": "interlude",
    "inst": "interlude",
    "solo": "solo",
    "break": "break",
    "build up": "build-up",
    "hook": "chorus",
    "transition": "transition",
    "outro": "outro",
}
INSTRUMENTAL_KINDS = frozenset({"interlude", "solo", "break", "transition"})

MAX_LINES = 96
MAX_WORDS_PER_LINE = 24
WORD_RE = re.compile(r"[^\W_](?:[\w'’-]*[^\W_])?")
TAG_RE = re.compile(r"^\s*[\[(]\s*([^\])]{0,60})\s*[\])]\s*(.*)$")


@dataclass(frozen=True)
class LyricLine:
    text: str
    words: tuple[str, ...]
    # A blank line followed this one: leave a longer rest after it.
    pause_after: bool = False


@dataclass
class LyricSection:
    kind: str
    label: str
    lines: list[LyricLine] = field(default_factory=list)

    @property
    def sung(self) -> bool:
        return bool(self.lines)


def tag_kind(tag: str) -> str | None:
    """ "Pre Chorus 2" -> "pre-chorus"; None when it is not a section tag."""
    parsed = parse_section_tag(tag)
    return TAG_KINDS[parsed[0]] if parsed is not None else None


def split_words(line: str) -> tuple[str, ...]:
    words = [w.replace("’", "'") for w in WORD_RE.findall(line)]
    return tuple(words[:MAX_WORDS_PER_LINE])


def parse_lyrics(text: str) -> list[LyricSection]:
    """Sections with their sung lines; an empty list means an instrumental."""
    sections: list[LyricSection] = []
    current: LyricSection | None = None
    tagged = False
    pending_blank = False
    line_count = 0
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        stripped = raw.strip()
        match = TAG_RE.match(stripped) if stripped.startswith("[") else None
        if match:
            kind = tag_kind(match.group(1))
            if kind is not None:
                tagged = True
                current = LyricSection(kind=kind, label=match.group(1).strip() or kind)
                sections.append(current)
                pending_blank = False
                stripped = match.group(2).strip()
                if not stripped:
                    continue
            else:
                # Unknown bracketed text (stage directions) is not sung.
                stripped = match.group(2).strip()
                if not stripped:
                    continue
        if not stripped:
            pending_blank = True
            continue
        words = split_words(stripped)
        if not words or line_count >= MAX_LINES:
            continue
        if current is None or (pending_blank and not tagged):
            current = LyricSection(kind="verse", label="verse")
            sections.append(current)
        elif pending_blank and current.lines:
            last = current.lines[-1]
            current.lines[-1] = LyricLine(last.text, last.words, pause_after=True)
        pending_blank = False
        current.lines.append(LyricLine(text=stripped, words=words))
        line_count += 1

    if not tagged:
        _label_untagged(sections)
    # Instrumental-kind sections that carry words are sung anyway (as verses).
    for section in sections:
        if section.kind in INSTRUMENTAL_KINDS and section.lines:
            section.kind = "verse"
    if not any(section.lines for section in sections):
        return []
    return sections


def _label_untagged(sections: list[LyricSection]) -> None:
    """A stanza that occurs more than once is the chorus; the others are verses."""
    texts = [tuple(line.text.lower() for line in s.lines) for s in sections]
    for section, key in zip(sections, texts, strict=True):
        if texts.count(key) > 1:
            section.kind = "chorus"
            section.label = "chorus"
