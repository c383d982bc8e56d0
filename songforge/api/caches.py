"""In-process caches for the hottest reads (authentication and polling).

- API keys by secret hash, for one second: a key's settings never change after
  creation, only its revocation does, so a revoked key stops working within a
  second on every replica (immediately on the replica that revoked it, which
  calls ``forget``). Expiry is checked on every request against the cached value.
- Finished tasks: a completed or failed task never changes again, so polls of
  finished tasks need no database work at all.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime

from songforge.services.keys import ApiKey
from songforge.services.task_records import TaskRecord

KEY_TTL_SECONDS = 1.0


class KeyCache:
    def __init__(self, ttl: float = KEY_TTL_SECONDS, capacity: int = 10_000) -> None:
        self._ttl = ttl
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, ApiKey]] = {}

    def get(self, key_hash: str) -> ApiKey | None:
        entry = self._entries.get(key_hash)
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        return entry[1]

    def put(self, key_hash: str, key: ApiKey) -> None:
        with self._lock:
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
            for key_hash, (_, key) in list(self._entries.items()):
                if key.id == key_id:
                    del self._entries[key_hash]


class FinishedTaskCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, TaskRecord] = OrderedDict()

    def get(self, task_id: str) -> TaskRecord | None:
        return self._entries.get(task_id)

    def put(self, task: TaskRecord) -> None:
        if not task.finished:
            return
        with self._lock:
            self._entries[task.id] = task
            self._entries.move_to_end(task.id)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)
