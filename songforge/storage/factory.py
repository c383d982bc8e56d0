"""Builds the storage backend the settings name."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from songforge.settings import Settings
from songforge.storage.base import Storage
from songforge.storage.local import LocalStorage


def build_storage(settings: Settings) -> Storage:
    url = settings.storage_url.strip()
    if url.startswith("s3://"):
        # Imported here so that local set-ups never load boto3.
        from songforge.storage.s3 import S3Location, S3Options, S3Storage

        options = S3Options(
            endpoint_url=settings.s3_endpoint_url or None,
            public_endpoint_url=settings.s3_public_endpoint_url or None,
            region=settings.s3_region or None,
            addressing_style=settings.s3_addressing_style,
            multipart_threshold=settings.s3_multipart_threshold_bytes,
            multipart_chunk=settings.s3_multipart_chunk_bytes,
        )
        return S3Storage(S3Location.parse(url), options)
    if url.startswith("file://"):
        return LocalStorage(Path(unquote(urlsplit(url).path)))
    if url:
        raise ValueError(
            f"SONGFORGE_STORAGE_URL must be s3://bucket/prefix or file:///dir, not {url!r}"
        )
    if settings.storage_backend == "local":
        return LocalStorage(settings.resolved_storage_dir())
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
