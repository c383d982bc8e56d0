"""Builds the storage backend the settings name."""

from __future__ import annotations

from songforge.settings import Settings
from songforge.storage.base import Storage
from songforge.storage.local import LocalStorage


def build_storage(settings: Settings) -> Storage:
    if settings.storage_backend == "local":
        return LocalStorage(settings.resolved_storage_dir())
    raise ValueError(f"unknown storage backend {settings.storage_backend!r}")
