"""Where a sign-in may send the browser next: only to a path on this site."""

from __future__ import annotations

from urllib.parse import urlsplit

DEFAULT_NEXT = "/dashboard"


def safe_next(value: str | None, default: str = DEFAULT_NEXT) -> str:
    """``value`` when it is a local path, else ``default`` (no open redirects).

    Browsers treat ``//host``, ``/\\host`` and control characters inside a URL
    leniently, so anything but a plain absolute path is refused.
    """
    if not value or len(value) > 2000:
        return default
    if not value.startswith("/") or value.startswith(("//", "/\\")):
        return default
    if any(ord(char) < 0x21 or char in "\\\x7f" for char in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value
