"""Reading a JSON request body strictly: UTF-8 ``application/json``, one value per key,
valid Unicode only, and every fault a 4xx in the envelope (never an exception the
server did not expect).

Why each rule (docs/decisions/0005-hardening.md):
- ``json.loads`` on bytes guesses UTF-16/32 from the first bytes; a body that is
  not UTF-8 is refused instead, so what is stored is what the client meant.
- With duplicate keys ``json.loads`` keeps the last one silently; two proxies or
  validators that keep the first would see a different request.
- A ``\\ud83c`` escape decodes to a lone surrogate, which no UTF-8 answer can carry.
- Python refuses to convert integers over 4,300 digits (ValueError) and recurses
  once per nesting level (RecursionError); both are answered as bad input.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from songforge.errors import ApiError, invalid
from songforge.text_safety import has_surrogate

# Longer integers are read as floats (so a 4,301-digit seed is "not an integer in
# range", with its field named, instead of Python's int-conversion ValueError).
_INT_DIGITS_MAX = 100


class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _parse_int(text: str) -> int | float:
    if len(text) > _INT_DIGITS_MAX:
        return float(text)
    return int(text)


def _refuse_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON (RFC 8259), whatever Python accepts.
    raise invalid(f"Malformed JSON: {name} is not a JSON value")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _check_unicode(value: Any) -> None:
    """Refuse any string (key or value, at any depth) that is not valid Unicode."""
    stack: list[tuple[Any, str | None]] = [(value, None)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                raise invalid(
                    "Text must be valid Unicode: a lone UTF-16 surrogate (half of an emoji "
                    "cut in two?) is not a character",
                    where,
                )
        elif isinstance(item, dict):
            for key, inner in item.items():
                if has_surrogate(key):
                    raise invalid("A field name in the body is not valid Unicode")
                stack.append((inner, where or key))
        elif isinstance(item, list):
            stack.extend((inner, where) for inner in item)


def decode_json_body(raw: bytes) -> Any:
    """The JSON value of a request body, or a 400 ApiError saying what is wrong."""
    if not raw.strip():
        raise invalid("The request body is empty; send a JSON object")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid(f"The request body must be UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        value = json.loads(
            text,
            object_pairs_hook=_unique_pairs,
            parse_int=_parse_int,
            parse_constant=_refuse_constant,
        )
    except _DuplicateKey as exc:
        key = exc.key if not has_surrogate(exc.key) else None
        raise invalid(f"Duplicate key {exc.key!r} in the JSON body", key) from None
    except json.JSONDecodeError as exc:
        raise invalid(f"Malformed JSON: {exc}") from exc
    except RecursionError:
        raise invalid("Malformed JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. Python's limit on long number literals
        raise invalid(f"Malformed JSON: {exc}") from exc
    _check_unicode(value)
    return value


def require_json_content_type(request: Request) -> None:
    """415 unless the body is declared as UTF-8 JSON (``application/json``, any case,
    with no charset or ``charset=utf-8``)."""
    declared = request.headers.get("content-type", "")
    media_type, _, parameters = declared.partition(";")
    charset = ""
    for parameter in parameters.split(";"):
        name, _, val = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip('"').lower()
    if media_type.strip().lower() != "application/json" or charset not in ("", "utf-8", "utf8"):
        raise ApiError(
            415,
            "invalid_request",
            "Send the body as JSON with 'Content-Type: application/json' (UTF-8); "
            f"got {declared[:100]!r}",
            param="Content-Type",
        )
