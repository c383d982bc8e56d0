"""Everything a request handler needs, built once per app from the Settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection

from songforge.api.caches import FinishedTaskCache, KeyCache
from songforge.catalog import Catalog, ModelSpec, load_catalog
from songforge.db.database import Database
from songforge.metrics import Metrics
from songforge.services.eta import recent_run_seconds
from songforge.services.rate_limits import RateLimiter, build_rate_limiter
from songforge.services.workers import live_worker_counts
from songforge.settings import Settings
from songforge.storage.base import Storage
from songforge.storage.factory import build_storage
from songforge.storage.signing import LinkSigner

LIVE_CACHE_SECONDS = 1.0
RUN_SECONDS_CACHE_SECONDS = 5.0


@dataclass
class AppContext:
    settings: Settings
    db: Database
    catalog: Catalog
    storage: Storage
    signer: LinkSigner
    rate_limiter: RateLimiter
    metrics: Metrics
    key_cache: KeyCache = field(default_factory=KeyCache)
    finished_tasks: FinishedTaskCache = field(default_factory=FinishedTaskCache)
    _live_cache: tuple[float, dict[str, int]] | None = None
    _run_seconds_cache: dict[str, tuple[float, float | None]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        metrics = Metrics()
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url()),
            catalog=load_catalog(settings.catalog_path),
            storage=build_storage(settings),
            signer=LinkSigner(settings.resolved_secret_key(), settings.audio_link_ttl_seconds),
            rate_limiter=build_rate_limiter(
                settings.rate_limit_backend, on_error=metrics.rate_limit_backend_errors.inc
            ),
            metrics=metrics,
        )

    @property
    def worker_freshness(self) -> timedelta:
        # A worker that missed three heartbeats is presumed gone.
        return timedelta(seconds=max(3 * self.settings.heartbeat_seconds, 10.0))

    def live_workers(self) -> dict[str, int]:
        """Live workers per model, re-read at most once a second.

        Liveness moves on the scale of heartbeats (seconds), and every create and
        every poll of a running task asks, so a one-second cache is free accuracy-wise.
        """
        now = time.monotonic()
        cached = self._live_cache
        if cached is not None and now - cached[0] < LIVE_CACHE_SECONDS:
            return cached[1]
        with self.db.read() as conn:
            counts = live_worker_counts(conn, self.worker_freshness)
        self._live_cache = (now, counts)
        return counts

    def recent_run_seconds(self, conn: Connection, model: str) -> float | None:
        """The model's mean recent run time, re-read at most every few seconds (ETA basis)."""
        now = time.monotonic()
        cached = self._run_seconds_cache.get(model)
        if cached is not None and now - cached[0] < RUN_SECONDS_CACHE_SECONDS:
            return cached[1]
        value = recent_run_seconds(conn, model)
        self._run_seconds_cache[model] = (now, value)
        return value

    def live_models(self) -> list[ModelSpec]:
        counts = self.live_workers()
        return [spec for spec in self.catalog if counts.get(spec.id, 0) > 0]
