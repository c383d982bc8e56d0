"""Lone UTF-16 surrogates: refused at the edge, and made harmless where old rows are read.

A JSON escape such as ``\\ud83c`` (half of an emoji, as a JavaScript client that
cuts a string in two sends it) decodes to a Python string that no UTF-8 answer
can carry. New input with one is refused (api/json_body.py, services/music_request.py);
rows stored before that rule existed are read with U+FFFD in their place, so that
nothing stored can make an answer fail.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def scrub_surrogates(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def scrub_value(value: Any) -> Any:
    """A JSON-like value with every string (keys too) scrubbed of lone surrogates."""
    if isinstance(value, str):
        return scrub_surrogates(value)
    if isinstance(value, dict):
        return {scrub_surrogates(str(k)): scrub_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_value(item) for item in value]
    return value
