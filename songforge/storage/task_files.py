"""Where a task's files live in storage, and what each one is.

Every file of a task sits under ``<task id>/`` (so retention, which deletes that
prefix, takes them all) and is named after the song's key, the one the task row
keeps (``storage_key``)::

    <task id>/attempt-<n>.<mp3|wav|flac>            the song
    <task id>/attempt-<n>-vocals.<ext>              stems, same format (issue 14)
    <task id>/attempt-<n>-instrumental.<ext>
    <task id>/attempt-<n>.lrc                        timed lyrics

The public link of each (``/api/v1/files/...``) is built in ``api/task_view.py``.
"""

from __future__ import annotations

import mimetypes

from songforge.audio.output_format import MEDIA_TYPES, OutputFormat
from songforge.engines.base import STEM_NAMES
from songforge.timed_lyrics import LRC_MEDIA_TYPE

# The names the extra files are published under: stems and "lyrics" (the LRC).
LYRICS_FILE = "lyrics"
EXTRA_FILE_NAMES = (*STEM_NAMES, LYRICS_FILE)


def song_key(task_id: str, attempt: int, output: OutputFormat) -> str:
    return f"{task_id}/attempt-{attempt}.{output.extension}"


def _stem_of(key: str) -> tuple[str, str]:
    base, _, extension = key.rpartition(".")
    return base, extension


def stem_key(song: str, name: str) -> str:
    """The key of stem ``name`` next to the song stored at ``song``."""
    if name not in STEM_NAMES:
        raise ValueError(f"unknown stem {name!r}")
    base, extension = _stem_of(song)
    return f"{base}-{name}.{extension}"


def lrc_key(song: str) -> str:
    return f"{_stem_of(song)[0]}.lrc"


def extension_of(key: str) -> str:
    return _stem_of(key)[1]


def media_type_of(key: str) -> str:
    """The HTTP content type of a stored task file, by its extension."""
    extension = extension_of(key)
    if extension == "lrc":
        return LRC_MEDIA_TYPE
    for container, media_type in MEDIA_TYPES.items():
        if container == extension:
            return media_type
    # Anything else stored under a task (the dashboard's waveform...).
    return mimetypes.guess_type(key)[0] or "application/octet-stream"
