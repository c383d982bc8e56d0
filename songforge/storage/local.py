"""Audio files in a local directory, written atomically (temp file, fsync, rename)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from songforge.storage.base import ObjectStream

CHUNK_BYTES = 256 * 1024


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        # Keys are made by the worker, but never let one escape the root.
        if not key or key.startswith("/") or ".." in Path(key).parts:
            raise ValueError(f"bad storage key {key!r}")
        return self.root / key

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        # Task prefixes are directories ("<task id>/"); anything else is matched by name.
        directory = self._path(prefix.rstrip("/")) if prefix.endswith("/") else None
        if directory is not None:
            if not directory.is_dir():
                return 0
            count = sum(1 for p in directory.rglob("*") if p.is_file())
            shutil.rmtree(directory, ignore_errors=True)
            return count
        parent = self._path(prefix).parent
        name = Path(prefix).name
        count = 0
        for path in parent.glob(f"{name}*") if parent.is_dir() else []:
            if path.is_file():
                path.unlink(missing_ok=True)
                count += 1
        return count

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def stream(self, key: str, byte_range: str | None = None) -> ObjectStream:
        # The API serves local files with FileResponse (which handles ranges); this
        # path exists for callers that want chunks from any backend: whole file.
        path = self._path(key)
        size = path.stat().st_size

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(CHUNK_BYTES):
                    yield block

        return ObjectStream(chunks=chunks(), length=size)

    def presigned_url(self, key: str, expires_in: int, filename: str) -> str | None:
        return None
