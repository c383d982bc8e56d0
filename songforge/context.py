"""Everything a request handler needs, built once per app from the Settings."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection

from songforge.catalog import Catalog, ModelSpec, load_catalog
from songforge.db.database import Database, needed
from songforge.db.group_commit import GroupCommit
from songforge.db.types import utcnow
from songforge.metrics import Metrics
from songforge.services.caches import (
    FinishedTaskCache,
    KeyCache,
    RefreshClaims,
    UnfinishedAnswers,
)
from songforge.services.eta import recent_run_seconds
from songforge.services.invalidation import Invalidation, NoInvalidation, build_invalidation
from songforge.services.music_tasks import TaskCreation
from songforge.services.queue_positions import QueuePositions
from songforge.services.rate_limits import RateLimiter, build_rate_limiter
from songforge.services.task_batches import (
    create_tasks,
    create_tasks_at_once_on_loop,
    written_creates,
)
from songforge.services.tasks import CreateResult, NewTask
from songforge.services.workers import (
    Startup,
    live_worker_counts,
    models_seen_since,
    worker_freshness,
)
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
    invalidation: Invalidation = field(default_factory=NoInvalidation)
    finished_tasks: FinishedTaskCache = field(default_factory=FinishedTaskCache)
    unfinished_answers: UnfinishedAnswers = field(default_factory=UnfinishedAnswers)
    queue_positions: QueuePositions = field(default_factory=QueuePositions)
    # This server's own worker processes still loading, per model (``songforge serve``
    # sets it to its WorkerSupervisor's ``starting``; elsewhere nobody is starting).
    worker_startup: Callable[[], dict[str, Startup]] | None = None
    _live_cache: tuple[float, dict[str, int]] | None = None
    # True while one caller re-reads the live workers: the others keep the last
    # figures meanwhile instead of all reading them at once.
    _live_refreshing: bool = False
    _run_seconds_cache: dict[str, tuple[float, float | None]] = field(default_factory=dict)
    _refresh_claims: RefreshClaims = field(default_factory=RefreshClaims)
    _together: GroupCommit[NewTask, CreateResult] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AppContext:
        metrics = Metrics()
        invalidation = build_invalidation(settings.resolved_redis_url())
        return cls(
            invalidation=invalidation,
            key_cache=KeyCache(notified=lambda: invalidation.listening),
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

    def start_listening(self) -> None:
        """Hear other replicas' key revocations (a thread; no-op without Redis)."""
        self.invalidation.start(self.key_cache.forget, self.key_cache.clear)

    def key_revoked(self, key_id: str) -> None:
        """After revoking a key in the database: drop it here, and tell every replica."""
        self.key_cache.forget(key_id)
        self.invalidation.publish_key_revoked(key_id)

    def task_creation(self) -> TaskCreation:
        """What creating a task needs, from this app's parts and current settings."""
        return TaskCreation(
            db=self.db,
            catalog=self.catalog,
            accepts_tasks_for=self.accepts_tasks_for,
            max_attempts=self.settings.max_attempts,
            max_concurrent=self.settings.max_concurrent_tasks,
            on_created=self._count_created,
            together=self._create_together(),
            idempotency_ttl=timedelta(seconds=self.settings.idempotency_ttl_seconds),
        )

    def _create_together(self) -> GroupCommit[NewTask, CreateResult]:
        # One per app: the creates of all its requests share its transactions.
        if self._together is None:
            db = self.db

            def run(conn: Connection, batch: Sequence[NewTask]) -> list[CreateResult | Exception]:
                # Read at each batch: settings may change while the app runs (tests).
                limit = self.settings.max_concurrent_tasks
                return create_tasks(conn, db, batch, max_concurrent=limit)

            async def run_on_loop(batch: Sequence[NewTask]) -> list[CreateResult | Exception]:
                limit = self.settings.max_concurrent_tasks
                return await create_tasks_at_once_on_loop(db, batch, max_concurrent=limit)

            # PostgreSQL's batches are awaited on the event loop, in one statement
            # when the whole batch fits (decision 0013, items 28 and 33); SQLite's
            # already run inline.
            self._together = GroupCommit(
                db,
                run,
                run_batch_on_loop=None if db.is_sqlite else run_on_loop,
                find_written=lambda batch: written_creates(db, batch),
            )
        return self._together

    def _count_created(self, model: str) -> None:
        self.metrics.tasks_created.labels(model).inc()

    @property
    def worker_freshness(self) -> timedelta:
        return worker_freshness(self.settings.heartbeat_seconds)

    def starting_workers(self) -> dict[str, Startup]:
        return self.worker_startup() if self.worker_startup is not None else {}

    def accepts_tasks_for(self, model: str) -> bool:
        """Whether a create for ``model`` is queued (else: 503 model_unavailable).

        Yes while a worker serves it, while this server's own workers for it are
        still starting, and for a grace period after a worker for it was last seen
        (a restart, a redeploy); only a model no worker served for that long is
        refused. Checked against the database itself before refusing: the cached
        counts may predate a worker that just registered.
        """
        if self.live_workers().get(model, 0) > 0 or model in self.starting_workers():
            return True
        grace = timedelta(seconds=self.settings.worker_grace_seconds)
        with self.db.read() as conn:
            if live_worker_counts(conn, self.worker_freshness).get(model, 0) > 0:
                return True
            return model in models_seen_since(conn, utcnow() - grace)

    def live_workers(self) -> dict[str, int]:
        """Live workers per model, re-read at most once a second.

        Liveness moves on the scale of heartbeats (seconds), and every create and
        every poll of a running task asks, so a one-second cache is free accuracy-wise.
        """
        now = time.monotonic()
        cached = self._live_cache
        if cached is not None and (now - cached[0] < LIVE_CACHE_SECONDS or self._live_refreshing):
            return cached[1]
        # On PostgreSQL the read below stops a create run inline on the event loop
        # (Database.call) and sends it to the thread pool. Without this flag, every
        # create in flight when the second ran out went there and read the same row.
        self._live_refreshing = True
        try:
            with self.db.read() as conn:
                counts = live_worker_counts(conn, self.worker_freshness)
        finally:
            self._live_refreshing = False
        self._live_cache = (now, counts)
        return counts

    def recent_run_seconds(self, conn: Connection | None, model: str) -> float | None:
        """The model's mean recent run time, re-read at most every few seconds (ETA basis);
        ``conn`` None: from the cache or ``ConnectionNeeded``."""
        now = time.monotonic()
        cached = self._run_seconds_cache.get(model)
        if cached is not None and (
            now - cached[0] < RUN_SECONDS_CACHE_SECONDS
            # On the event loop one caller claims the re-read; the others keep
            # the last figure meanwhile (services/caches.py).
            or (conn is None and not self._refresh_claims.claim(model))
        ):
            return cached[1]
        try:
            value = recent_run_seconds(needed(conn), model)
        finally:
            if conn is not None:
                self._refresh_claims.release(model)
        self._run_seconds_cache[model] = (now, value)
        return value

    def live_models(self) -> list[ModelSpec]:
        counts = self.live_workers()
        return [spec for spec in self.catalog if counts.get(spec.id, 0) > 0]
