"""Signed downloads of a task's other files (issue 14): a WAV/FLAC song, its stems,
its LRC file. The MP3 song keeps the seed's route (``api/ops.py``).

As there, the link is the permission: no API key, a valid unexpired signature
over the file's own path (``api/file_links.py``).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request

from songforge.api.audio_files import audio_response
from songforge.api.deps import get_context
from songforge.api.file_links import extra_file_subject
from songforge.context import AppContext
from songforge.engines.base import STEM_NAMES
from songforge.errors import not_found
from songforge.services.task_records import TaskRecord, TaskStatus, load_task
from songforge.storage.task_files import LYRICS_FILE, extension_of, lrc_key, stem_key

router = APIRouter()

_EXPIRES = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^[0-9a-f]{1,64}$")
INVALID_LINK = "This link is invalid or has expired; poll the task for a new one"


def _verified_task(
    context: AppContext, subject: str, task_id: str, expires: str, sig: str
) -> TaskRecord:
    # Shapes first, as for the MP3 link (api/ops.py): malformed links are invalid links.
    if not (_EXPIRES.fullmatch(expires) and _SIGNATURE.fullmatch(sig)) or not context.signer.verify(
        subject, int(expires), sig
    ):
        raise not_found(INVALID_LINK)
    with context.db.read() as conn:
        task = load_task(conn, task_id)
    if task is None or task.status != TaskStatus.COMPLETED:
        raise not_found("No file for this task")
    if task.storage_key is None:
        raise not_found("This song's files were deleted after the retention period")
    return task


def _song(task_id: str, extension: str, request: Request, expires: str, sig: str) -> Any:
    context = get_context(request)
    task = _verified_task(context, task_id, task_id, expires, sig)
    assert task.storage_key is not None
    if extension_of(task.storage_key) != extension:
        raise not_found(f"This task's song is not a {extension} file")
    return audio_response(context, task.storage_key, f"{task_id}.{extension}", request)


@router.get("/api/v1/files/{task_id}.wav")
def download_wav(task_id: str, request: Request, expires: str = "", sig: str = "") -> Any:
    return _song(task_id, "wav", request, expires, sig)


@router.get("/api/v1/files/{task_id}.flac")
def download_flac(task_id: str, request: Request, expires: str = "", sig: str = "") -> Any:
    return _song(task_id, "flac", request, expires, sig)


@router.get("/api/v1/files/{task_id}/{file_name}")
def download_extra(
    task_id: str, file_name: str, request: Request, expires: str = "", sig: str = ""
) -> Any:
    """A stem (``vocals.<ext>``, ``instrumental.<ext>``) or the LRC file (``lyrics.lrc``)."""
    context = get_context(request)
    task = _verified_task(context, extra_file_subject(task_id, file_name), task_id, expires, sig)
    assert task.storage_key is not None
    name, _, extension = file_name.rpartition(".")
    if name == LYRICS_FILE and extension == "lrc":
        key = lrc_key(task.storage_key)
    elif name in STEM_NAMES and extension == extension_of(task.storage_key):
        key = stem_key(task.storage_key, name)
    else:
        raise not_found("This task has no such file")
    return audio_response(context, key, f"{task_id}-{file_name}", request)
