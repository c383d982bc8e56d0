"""The upstream's API key: read from an environment variable or a file named in the
catalog, never from the catalog itself, and never printable.

``ApiKey`` hides its value from ``repr``/``str`` so that a key that ends up in a
log line, an exception or a debugger shows ``ApiKey(***)``; the only way to the
value is ``reveal()``, called where the Authorization header is built.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from songforge.engines.base import EngineUnavailable


class ApiKey:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "ApiKey(***)"

    __str__ = __repr__


def read_api_key(family: str, options: Mapping[str, Any], *, required: bool) -> ApiKey | None:
    """The key named by ``api_key_env`` or ``api_key_file``.

    A key written straight into the catalog (``api_key``) is refused: catalogs
    get committed, pasted into tickets and shown on dashboards.
    """
    if "api_key" in options:
        raise EngineUnavailable(
            f"{family}: put the key in an environment variable (api_key_env) or a file "
            "(api_key_file), not in the catalog"
        )
    env_name = options.get("api_key_env")
    file_name = options.get("api_key_file")
    if env_name and file_name:
        raise EngineUnavailable(f"{family}: give api_key_env or api_key_file, not both")
    value: str | None = None
    if env_name:
        value = os.environ.get(str(env_name), "").strip() or None
        if value is None and required:
            raise EngineUnavailable(f"{family}: environment variable {env_name} is not set")
    elif file_name:
        path = Path(str(file_name)).expanduser()
        try:
            value = path.read_text().strip() or None
        except OSError as exc:
            raise EngineUnavailable(
                f"{family}: cannot read api_key_file {path}: {exc.strerror}"
            ) from exc
        if value is None and required:
            raise EngineUnavailable(f"{family}: api_key_file {path} is empty")
    elif required:
        raise EngineUnavailable(f"{family}: api_key_env or api_key_file is required")
    return ApiKey(value) if value is not None else None
