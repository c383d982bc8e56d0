"""Tells every API replica at once that a cached API key is no longer valid.

Each replica caches keys for a moment (``services/caches.py``): authentication is the
hottest read. Revoking a key on one replica publishes its id on a Redis channel;
every replica listens and drops the key the instant the message lands.

The fallback is bounded: while a replica is not subscribed (no Redis configured,
Redis down or restarting) its cache keeps keys for one second only; when it
(re)subscribes it clears the cache, since messages sent while it was away are
lost (pub/sub keeps nothing). Only when a publish itself fails while listeners
stay subscribed can a revocation take longer elsewhere: at most the longer TTL
the cache uses while notified.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("songforge.invalidation")

CHANNEL = "songforge:invalidate"
KEY_PREFIX = "key:"


class Invalidation(Protocol):
    def publish_key_revoked(self, key_id: str) -> None: ...

    def start(self, on_key_revoked: Callable[[str], None], on_gap: Callable[[], None]) -> None:
        """Listen: ``on_key_revoked(key_id)`` per message, ``on_gap()`` whenever messages
        may have been missed (just subscribed, or the subscription dropped)."""

    @property
    def listening(self) -> bool:
        """True while subscribed: other replicas' revocations reach this one at once."""

    def close(self) -> None: ...


class NoInvalidation:
    """One process, or no Redis: nothing to tell anyone; caches stay short-lived."""

    listening = False

    def publish_key_revoked(self, key_id: str) -> None:
        pass

    def start(self, on_key_revoked: Callable[[str], None], on_gap: Callable[[], None]) -> None:
        pass

    def close(self) -> None:
        pass


class RedisInvalidation:
    def __init__(self, url: str, channel: str = CHANNEL) -> None:
        import redis

        self._channel = channel
        # Short timeouts: a revocation must never hang a request on a dead Redis.
        self._redis: Any = redis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, health_check_interval=5
        )
        self._listening = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def publish_key_revoked(self, key_id: str) -> None:
        try:
            self._redis.publish(self._channel, KEY_PREFIX + key_id)
        except Exception:
            log.warning(
                "could not publish the revocation of key %s; replicas drop it within "
                "their cache lifetime",
                key_id,
                exc_info=True,
            )

    def start(self, on_key_revoked: Callable[[str], None], on_gap: Callable[[], None]) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._listen, args=(on_key_revoked, on_gap), name="invalidation", daemon=True
        )
        self._thread.start()

    def _listen(self, on_key_revoked: Callable[[str], None], on_gap: Callable[[], None]) -> None:
        backoff = 0.1
        while not self._stop.is_set():
            pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
            try:
                pubsub.subscribe(self._channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    if message["type"] == "subscribe":
                        # Anything published while we were away is lost: start afresh.
                        on_gap()
                        self._listening.set()
                        backoff = 0.1
                        log.info("listening for key revocations on %s", self._channel)
                    elif message["type"] == "message":
                        data = message["data"]
                        text = data.decode() if isinstance(data, bytes) else str(data)
                        if text.startswith(KEY_PREFIX):
                            on_key_revoked(text[len(KEY_PREFIX) :])
            except Exception as exc:
                if self._listening.is_set():
                    log.warning("lost the revocation channel (%s); caches go short-lived", exc)
                self._listening.clear()
                on_gap()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()
        self._listening.clear()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self._redis.close()


def build_invalidation(url: str) -> Invalidation:
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisInvalidation(url)
    if url:
        raise ValueError(f"SONGFORGE_REDIS_URL must be a redis:// URL, not {url!r}")
    return NoInvalidation()
