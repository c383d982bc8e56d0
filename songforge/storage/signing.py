"""Signed, expiring links: the link itself is the permission to download, so it can
be pasted into a browser or an <audio> tag without an API key."""

from __future__ import annotations

import hashlib
import hmac
import time


class LinkSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret.encode()
        self.ttl_seconds = ttl_seconds

    def _signature(self, task_id: str, expires: int) -> str:
        message = f"audio:{task_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def expiry(self, now: float | None = None) -> int:
        """The expiry (unix seconds) of a link signed ``now``."""
        # Rounded to the minute so that polls within a minute return the same link
        # (friendlier to caches, to clients that compare outputs, and it lets the
        # API keep a finished task's rendered answer for that minute).
        issued = int(now if now is not None else time.time())
        return (issued + self.ttl_seconds) // 60 * 60 + 60

    def sign(self, task_id: str, now: float | None = None) -> tuple[str, int]:
        """The query string for a download link, and its expiry (unix seconds)."""
        expires = self.expiry(now)
        return f"expires={expires}&sig={self._signature(task_id, expires)}", expires

    def verify(self, task_id: str, expires: int, signature: str, now: float | None = None) -> bool:
        if expires < int(now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._signature(task_id, expires), signature)
