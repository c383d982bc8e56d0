"""The one list of lyrics section tags: what validation accepts is exactly what every
engine treats as a tag (api.md; issue 10, point 11).

A tag is one of these names in brackets, in any case, with a space, a hyphen or
nothing inside the two-word names, optionally numbered: ``[Verse]``,
``[pre-chorus]``, ``[BUILDUP]``, ``[Chorus 2]``.
"""

from __future__ import annotations

import re

# The API's names (api.md) plus "instrumental", accepted since the first release
# as another spelling of "inst" (an instrumental section).
SECTION_TAGS = (
    "intro",
    "verse",
    "pre chorus",
    "chorus",
    "post chorus",
    "bridge",
    "interlude",
    "inst",
    "instrumental",
    "solo",
    "break",
    "build up",
    "hook",
    "transition",
    "outro",
)
# Accepted spellings that mean another tag; engines see only the canonical one.
ALIASES = {"instrumental": "inst"}

_BY_COMPACT = {tag.replace(" ", ""): ALIASES.get(tag, tag) for tag in SECTION_TAGS}
_TAG_TEXT = re.compile(r"\s*([A-Za-z][A-Za-z \-]*?)\s*(\d+)?\s*")


def parse_section_tag(text: str) -> tuple[str, int | None] | None:
    """``"Pre-Chorus 2"`` -> ``("pre chorus", 2)``; None when ``text`` (what stands
    between the brackets) is not a section tag."""
    match = _TAG_TEXT.fullmatch(text)
    if match is None:
        return None
    canonical = _BY_COMPACT.get(re.sub(r"[ \-]", "", match.group(1).lower()))
    if canonical is None:
        return None
    return canonical, int(match.group(2)) if match.group(2) else None


def tag_list_for_people() -> str:
    """ "[Intro], [Verse], ... or [Outro]" for error messages."""
    names = [f"[{tag.title()}]" for tag in SECTION_TAGS]
    return ", ".join(names[:-1]) + f" or {names[-1]}"
