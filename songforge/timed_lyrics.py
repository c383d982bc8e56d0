"""Timed lyrics as delivered: the ``output.lyrics`` JSON and an enhanced LRC file.

Built from an engine's ``AudioResult.lyrics`` (lines of words with start/end in
seconds of the delivered song). The LRC file is the "enhanced" (A2) form that
karaoke players read: each line starts with its ``[mm:ss.xx]`` time, each word
is preceded by a ``<mm:ss.xx>`` tag, and a last tag marks when the line's final
word ends, so a player can clear it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from songforge.engines.base import TimedLine, TimedWord

LRC_MEDIA_TYPE = "text/plain; charset=utf-8"


def _seconds(value: float) -> float:
    # Milliseconds are finer than any player or onset detector resolves.
    return round(max(0.0, float(value)), 3)


def _word_json(word: TimedWord) -> dict[str, Any]:
    return {"text": word.text, "start": _seconds(word.start), "end": _seconds(word.end)}


def lyrics_json(lines: Sequence[TimedLine]) -> dict[str, Any]:
    """``output.lyrics``: ``{"lines": [{"text", "start", "end", "words": [...]}]}``."""
    return {
        "lines": [
            {
                "text": line.text,
                "start": _seconds(line.start),
                "end": _seconds(line.end),
                "words": [_word_json(word) for word in line.words],
            }
            for line in lines
        ]
    }


def lrc_time(seconds: float) -> str:
    """``mm:ss.xx`` (minutes may pass 99; centiseconds rounded, never negative)."""
    centiseconds = round(max(0.0, float(seconds)) * 100)
    minutes, rest = divmod(centiseconds, 6000)
    return f"{minutes:02d}:{rest // 100:02d}.{rest % 100:02d}"


def _lrc_line(line: TimedLine) -> str:
    text = " ".join(line.text.split())
    if not line.words:
        return f"[{lrc_time(line.start)}]{text}"
    words = " ".join(f"<{lrc_time(w.start)}>{' '.join(w.text.split())}" for w in line.words)
    return f"[{lrc_time(line.start)}]{words} <{lrc_time(line.words[-1].end)}>"


def enhanced_lrc(lines: Sequence[TimedLine], *, length_seconds: float | None = None) -> str:
    """The LRC file's text, with word-level timing."""
    header = ["[re:songforge]"]
    if length_seconds is not None:
        header.append(f"[length:{lrc_time(length_seconds)}]")
    return "\n".join([*header, *(_lrc_line(line) for line in lines)]) + "\n"
