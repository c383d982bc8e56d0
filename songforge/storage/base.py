"""The storage port the worker writes to and the API reads from."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class RangeNotSatisfiable(Exception):
    """The requested byte range lies outside the object."""

    def __init__(self, size: int | None) -> None:
        super().__init__(f"range not satisfiable (object size {size})")
        self.size = size


@dataclass
class ObjectStream:
    """An object (or one byte range of it) being read, for proxying to a client."""

    chunks: Iterator[bytes]
    length: int
    # "bytes START-END/TOTAL" when a range was served, else None.
    content_range: str | None = None


class Storage(Protocol):
    def save(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` atomically: readers see all of it or nothing."""

    def read(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with ``prefix``; returns how many."""

    def local_path(self, key: str) -> Path | None:
        """A filesystem path the API may stream from, when the backend has one."""

    def stream(self, key: str, byte_range: str | None = None) -> ObjectStream:
        """Read ``key`` in chunks; ``byte_range`` is an HTTP ``Range`` value
        (``bytes=START-END``), honoured where the backend can."""

    def presigned_url(self, key: str, expires_in: int, filename: str) -> str | None:
        """A URL the client may fetch the object from directly, or None when the
        backend has no such thing (local files)."""
