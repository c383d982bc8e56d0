"""Answers a verified audio link from whichever storage holds the file: a local file
(with ranges), a proxied object-storage stream (ranges passed through), or a
redirect to a short-lived presigned URL of the bucket (``SONGFORGE_AUDIO_DOWNLOADS``)."""

from __future__ import annotations

import re

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse

from songforge.context import AppContext
from songforge.errors import ApiError, not_found
from songforge.storage.base import RangeNotSatisfiable
from songforge.storage.task_files import media_type_of

# One range of bytes; multi-range requests are answered with the whole file (RFC 9110
# lets a server ignore Range).
_SINGLE_RANGE = re.compile(r"^bytes=(\d+-\d*|-\d+)$")


def audio_response(context: AppContext, key: str, filename: str, request: Request) -> Response:
    storage = context.storage
    media_type = media_type_of(key)
    headers = {"Cache-Control": "private, max-age=3600"}
    if context.settings.audio_downloads == "redirect":
        ttl = context.settings.presigned_url_ttl_seconds
        url = storage.presigned_url(key, ttl, filename)
        if url is not None:
            # The presigned URL lives shorter than our link: never let it be cached.
            return RedirectResponse(url, status_code=307, headers={"Cache-Control": "no-store"})
    path = storage.local_path(key)
    if path is not None:
        if not path.is_file():
            raise not_found("No audio for this task")
        return FileResponse(
            path,
            media_type=media_type,
            filename=filename,
            headers=headers,
            content_disposition_type="inline",
        )
    requested = request.headers.get("range", "").replace(" ", "")
    byte_range = requested if _SINGLE_RANGE.match(requested) else None
    try:
        stream = storage.stream(key, byte_range)
    except FileNotFoundError:
        raise not_found("No audio for this task") from None
    except RangeNotSatisfiable as exc:
        size = "*" if exc.size is None else str(exc.size)
        raise ApiError(
            416,
            "invalid_request",
            "The requested byte range is outside the audio file",
            headers={"Content-Range": f"bytes */{size}"},
        ) from None
    headers.update(
        {
            "Content-Disposition": f'inline; filename="{filename}"',
            "Content-Length": str(stream.length),
            "Accept-Ranges": "bytes",
        }
    )
    if stream.content_range:
        headers["Content-Range"] = stream.content_range
    return StreamingResponse(
        stream.chunks,
        status_code=206 if stream.content_range else 200,
        media_type=media_type,
        headers=headers,
    )
