"""Signed links to a task's files: the song, and (issue 14) its stems and LRC file.

The song's link is the seed's (``task_view.audio_link``): ``/api/v1/files/<task>.<ext>``,
signed over the task id. Every other file has its own path, ``/api/v1/files/<task>/<name>.<ext>``,
signed over that path's tail, so a link to one file never opens another.
"""

from __future__ import annotations

from typing import Any

from songforge.engines.base import STEM_NAMES
from songforge.storage.signing import LinkSigner
from songforge.storage.task_files import LYRICS_FILE, extension_of

FILES_PATH = "/api/v1/files"


def extra_file_subject(task_id: str, file_name: str) -> str:
    """What an extra file's link is signed over: ``<task>/<name>.<ext>``."""
    return f"{task_id}/{file_name}"


def extra_link(signer: LinkSigner, base_url: str, task_id: str, file_name: str) -> str:
    query, _ = signer.sign(extra_file_subject(task_id, file_name))
    return f"{base_url.rstrip('/')}{FILES_PATH}/{task_id}/{file_name}?{query}"


def with_extra_links(
    output: dict[str, Any],
    signer: LinkSigner,
    base_url: str,
    task_id: str,
    storage_key: str | None,
) -> dict[str, Any]:
    """``output`` with the stored stem names turned into links, and ``lrc_url`` after
    ``lyrics``; links are null once retention deleted the files. An output without
    extensions is returned as it is."""
    if "lyrics" not in output and "stems" not in output:
        return output

    def link(file_name: str) -> str | None:
        if storage_key is None:
            return None
        return extra_link(signer, base_url, task_id, file_name)

    extension = extension_of(storage_key) if storage_key is not None else ""
    shown: dict[str, Any] = {}
    for key, value in output.items():
        if key == "stems":
            names = [name for name in STEM_NAMES if name in value]
            shown["stems"] = {name: link(f"{name}.{extension}") for name in names}
            continue
        shown[key] = value
        if key == "lyrics":
            shown["lrc_url"] = link(f"{LYRICS_FILE}.lrc")
    return shown
