"""In-process caches for the hottest reads (authentication and polling).

- API keys by secret hash. A key's settings never change after creation, only its
  revocation does. With Redis (``SONGFORGE_REDIS_URL``) every replica hears each
  revocation at once (``services/invalidation.py``) and keeps keys for
  ``NOTIFIED_KEY_TTL_SECONDS``; without it, or while its channel is down, for one
  second. A generation counter keeps a key read from the database before a
  revocation arrived from being cached after it. Expiry is checked on every
  request against the cached value.
- Refresh claims: when a cached figure runs out, one caller re-reads it and the
  others keep the old figure meanwhile (``RefreshClaims``), instead of every request
  in flight at that moment leaving the event loop for the thread pool to read it.
- Finished tasks: a completed or failed task never changes again, so polls of
  finished tasks need no database work at all. Beside each one, the answers
  already rendered for it (the API's encoded TASK object, per base URL and link
  expiry minute), so a repeated poll is not rendered and encoded again either.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import datetime

from songforge.services.keys import ApiKey
from songforge.services.task_records import TaskRecord

KEY_TTL_SECONDS = 1.0
NOTIFIED_KEY_TTL_SECONDS = 15.0


class KeyCache:
    def __init__(
        self,
        ttl: float = KEY_TTL_SECONDS,
        capacity: int = 10_000,
        *,
        notified_ttl: float = NOTIFIED_KEY_TTL_SECONDS,
        notified: Callable[[], bool] = lambda: False,
    ) -> None:
        self._ttl = ttl
        self._notified_ttl = notified_ttl
        self._notified = notified
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, ApiKey]] = {}
        self._generation = 0

    @property
    def generation(self) -> int:
        """Read before looking a key up in the database; hand it to ``put``."""
        return self._generation

    def get(self, key_hash: str) -> ApiKey | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        ttl = self._notified_ttl if self._notified() else self._ttl
        if time.monotonic() - entry[0] > ttl:
            return None
        return entry[1]

    def put(self, key_hash: str, key: ApiKey, generation: int | None = None) -> None:
        with self._lock:
            if generation is not None and generation != self._generation:
                return  # something was revoked meanwhile: this read may be stale
            if len(self._entries) >= self._capacity:
                self._entries.clear()  # rare; cheaper than tracking recency
            self._entries[key_hash] = (time.monotonic(), key)

    def touched(self, key_hash: str, moment: datetime) -> None:
        with self._lock:
            entry = self._entries.get(key_hash)
            if entry is not None:
                self._entries[key_hash] = (entry[0], replace(entry[1], last_used_at=moment))

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._generation += 1
            for key_hash, (_, key) in list(self._entries.items()):
                if key.id == key_id:
                    del self._entries[key_hash]

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


# How long a claimed refresh keeps others on the old figure at most: a claim is
# made on the event loop and the refresh runs in the thread pool right after, in
# milliseconds; this bound only matters when that never happens (the request went away).
REFRESH_CLAIM_SECONDS = 1.0


class RefreshClaims:
    """Who re-reads an expired cache entry, per key (thread-safe).

    ``claim(key)`` is True for the first caller (it must refresh, then ``release``)
    and False while that claim stands: the others answer from the old entry. A
    claim never released stands for ``REFRESH_CLAIM_SECONDS``.
    """

    def __init__(
        self, hold: float = REFRESH_CLAIM_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._hold = hold
        self._clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, float] = {}

    def claim(self, key: str) -> bool:
        now = self._clock()
        with self._lock:
            since = self._claims.get(key)
            if since is not None and now - since < self._hold:
                return False
            self._claims[key] = now
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._claims.pop(key, None)


# Rendered answers kept per finished task: one per base URL and link expiry
# minute; more than a few means the Host header varies, and then rendering
# again is cheaper than tracking which variant is old.
ANSWERS_PER_TASK = 4


class FinishedTaskCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        # task id -> (the record, its rendered answers by variant)
        self._entries: OrderedDict[str, tuple[TaskRecord, dict[str, bytes]]] = OrderedDict()

    def get(self, task_id: str) -> TaskRecord | None:
        entry = self._entries.get(task_id)
        return entry[0] if entry is not None else None

    def put(self, task: TaskRecord) -> None:
        if not task.finished:
            return
        with self._lock:
            entry = self._entries.get(task.id)
            # Answers rendered from an equal record stay true; any other change
            # (retention deleted the files) drops them.
            kept = entry[1] if entry is not None and entry[0] == task else {}
            self._entries[task.id] = (task, kept)
            self._entries.move_to_end(task.id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def answer(self, task_id: str, variant: str) -> tuple[TaskRecord, bytes] | None:
        """The task and its answer rendered for ``variant``, if both are kept."""
        entry = self._entries.get(task_id)
        if entry is None:
            return None
        body = entry[1].get(variant)
        return (entry[0], body) if body is not None else None

    def keep_answer(self, task: TaskRecord, variant: str, body: bytes) -> None:
        """Keep ``body``, rendered from ``task`` (finished) for ``variant``."""
        if not task.finished:
            return
        with self._lock:
            entry = self._entries.get(task.id)
            if entry is None or entry[0] is not task:
                return  # evicted, or replaced by a newer read: render again later
            answers = entry[1]
            if len(answers) >= ANSWERS_PER_TASK:
                answers.clear()
            answers[variant] = body


# Unfinished tasks whose last answer is kept; beyond it, forgetting them all is
# simpler than tracking recency and costs one rendering each.
UNFINISHED_ANSWERS = 10_000


class UnfinishedAnswers:
    """The last answer rendered per unfinished task, for a given record and progress.

    The record is compared by identity: a row read again unchanged comes back as
    the same record (db/prepared.py remembers rows), and any change to the task
    is a new record, so a kept answer is never older than the row it answers for.
    """

    def __init__(self, capacity: int = UNFINISHED_ANSWERS) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[TaskRecord, Hashable, bytes]] = {}

    def get(self, task: TaskRecord, key: Hashable) -> bytes | None:
        """The answer kept for ``task`` (this very record) under ``key``."""
        entry = self._entries.get(task.id)
        if entry is None or entry[0] is not task or entry[1] != key:
            return None
        return entry[2]

    def keep(self, task: TaskRecord, key: Hashable, body: bytes) -> None:
        with self._lock:
            if len(self._entries) >= self._capacity:
                self._entries.clear()
            self._entries[task.id] = (task, key, body)
