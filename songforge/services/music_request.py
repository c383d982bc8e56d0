"""Validation of ``POST /api/v1/audio/music`` bodies, with one precise error per fault."""

from __future__ import annotations

import re
from typing import Any

from songforge.audio.mp3 import ALLOWED_BITRATES, ALLOWED_SAMPLE_RATES
from songforge.audio.output_format import (
    CONTAINERS,
    DEFAULT_BITRATE,
    DEFAULT_CONTAINER,
    DEFAULT_SAMPLE_RATE,
    LOSSLESS,
    OutputFormat,
)
from songforge.section_tags import parse_section_tag, tag_list_for_people
from songforge.services.errors import InvalidField
from songforge.task_input import SWITCHES, TaskInput, default_seed
from songforge.text_safety import has_surrogate

__all__ = ["DEFAULT_BITRATE", "DEFAULT_SAMPLE_RATE", "default_seed", "parse_music_request"]

FIELDS = (
    "model",
    "prompt",
    "lyrics",
    "bitrate",
    "sample_rate",
    "seed",
    "duration",
    # Issue 14's extensions (docs/decisions/0010-output-extensions.md).
    "format",
    *SWITCHES,
)
PROMPT_MAX = 2000
LYRICS_MAX = 3500
SEED_MAX = 2**32 - 1
DURATION_MIN = 5.0

BRACKETED = re.compile(r"\[([^\[\]\n]*)\]")
# C0 controls but tab, line feed and carriage return; DEL; C1 controls. None of
# them means anything in a prompt or lyrics, and NUL cannot be stored in
# PostgreSQL text (docs/decisions/0005-hardening.md).
CONTROL_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _is_int(value: Any) -> bool:
    # JSON true/false arrive as bool, which Python counts as int: refuse them.
    return isinstance(value, int) and not isinstance(value, bool)


def check_text(value: str, field: str) -> None:
    """Refuse text that is not valid Unicode, or that carries control characters."""
    if has_surrogate(value):
        raise InvalidField(
            f"'{field}' must be valid Unicode: a lone UTF-16 surrogate (half of an emoji "
            "cut in two?) is not a character",
            field,
        )
    found = CONTROL_CHARACTER.search(value)
    if found:
        raise InvalidField(
            f"'{field}' must not contain control characters (found U+{ord(found.group()):04X} "
            f"at position {found.start()}); tab, line feed and carriage return are allowed",
            field,
        )


def check_lyrics_tags(lyrics: str) -> None:
    for match in BRACKETED.finditer(lyrics):
        tag = match.group(1).strip()
        if parse_section_tag(tag) is None:
            raise InvalidField(
                f"Unknown section tag [{tag}] in lyrics; use {tag_list_for_people()} "
                "(optionally numbered, e.g. [Verse 2])",
                "lyrics",
            )


def parse_music_request(body: Any, *, max_duration: float | None = None) -> TaskInput:
    """Validate a decoded JSON body; raise InvalidField naming the faulty field."""
    if not isinstance(body, dict):
        raise InvalidField("The request body must be a JSON object")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidField(f"Unknown field {unknown[0]!r}", unknown[0])

    model = body.get("model")
    if model is None:
        raise InvalidField("'model' is required", "model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidField("'model' must be a non-empty string", "model")
    check_text(model, "model")

    prompt = body.get("prompt")
    if prompt is None:
        raise InvalidField("'prompt' is required", "prompt")
    if not isinstance(prompt, str):
        raise InvalidField("'prompt' must be a string", "prompt")
    check_text(prompt, "prompt")
    prompt = prompt.strip()
    if not 1 <= len(prompt) <= PROMPT_MAX:
        raise InvalidField(
            f"'prompt' must be 1 to {PROMPT_MAX} characters after trimming", "prompt"
        )

    lyrics = body.get("lyrics")
    if lyrics is None:
        lyrics = ""
    if not isinstance(lyrics, str):
        raise InvalidField("'lyrics' must be a string", "lyrics")
    if len(lyrics) > LYRICS_MAX:
        raise InvalidField(f"'lyrics' must be at most {LYRICS_MAX} characters", "lyrics")
    check_text(lyrics, "lyrics")
    check_lyrics_tags(lyrics)

    container = body.get("format")
    if container is None:
        container = DEFAULT_CONTAINER
    elif container not in CONTAINERS:
        allowed = ", ".join(f"'{name}'" for name in CONTAINERS)
        raise InvalidField(f"'format' must be one of {allowed}", "format")

    if container in LOSSLESS:
        # Refused rather than ignored: a bitrate means the sender expects an MP3
        # (decision 0010).
        if body.get("bitrate") is not None:
            raise InvalidField(
                f"'bitrate' applies to MP3 only; leave it out with format '{container}' "
                "(a lossless file is 16-bit PCM at sample_rate)",
                "bitrate",
            )
        bitrate = None
    else:
        bitrate = body.get("bitrate", DEFAULT_BITRATE)
        if not _is_int(bitrate) or bitrate not in ALLOWED_BITRATES:
            allowed = ", ".join(str(b) for b in ALLOWED_BITRATES)
            raise InvalidField(f"'bitrate' must be one of {allowed}", "bitrate")

    sample_rate = body.get("sample_rate", DEFAULT_SAMPLE_RATE)
    if not _is_int(sample_rate) or sample_rate not in ALLOWED_SAMPLE_RATES:
        allowed = ", ".join(str(r) for r in ALLOWED_SAMPLE_RATES)
        raise InvalidField(f"'sample_rate' must be one of {allowed}", "sample_rate")

    seed = body.get("seed")
    if seed is None:
        seed = default_seed(prompt, lyrics)
    elif not _is_int(seed) or not 0 <= seed <= SEED_MAX:
        raise InvalidField(f"'seed' must be an integer from 0 to {SEED_MAX}", "seed")

    duration = body.get("duration")
    if duration is not None:
        if not (_is_int(duration) or isinstance(duration, float)):
            raise InvalidField("'duration' must be a number of seconds", "duration")
        upper = max_duration if max_duration is not None else float("inf")
        if not DURATION_MIN <= float(duration) <= upper:
            limit = f"{upper:g}" if max_duration is not None else "the model's maximum"
            raise InvalidField(
                f"'duration' must be between {DURATION_MIN:g} and {limit}", "duration"
            )
        duration = float(duration)

    switches = {}
    for name in SWITCHES:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise InvalidField(f"'{name}' must be true or false", name)
        switches[name] = bool(value)

    return TaskInput(
        model=model,
        prompt=prompt,
        lyrics=lyrics,
        seed=seed,
        duration=duration,
        output=OutputFormat(container=container, sample_rate=sample_rate, bitrate=bitrate),
        **switches,
    )
