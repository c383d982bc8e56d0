"""The worker loop: claim -> run engine -> encode -> store -> settle, one task at a time.

Models served by remote engines (songforge/engines/remote) are not claimed here:
the relay dispatcher (worker/relay.py) carries many of their tasks at once on an
event loop beside this loop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from datetime import timedelta
from typing import Any, cast

from songforge.catalog import load_catalog
from songforge.db.database import Database
from songforge.engines.base import (
    AudioResult,
    BatchEngine,
    Engine,
    GenerationError,
)
from songforge.engines.remote.base import RelayEngine, is_relay_engine
from songforge.services.ids import new_id
from songforge.services.queue import (
    Claim,
    claim_next_task,
    complete_task,
    fail_attempt,
    reap_expired_leases,
)
from songforge.services.remaining_time import RemainingTime
from songforge.services.task_records import TaskStage
from songforge.services.workers import (
    register_worker,
    set_worker_models,
    stop_worker,
    touch_worker,
)
from songforge.settings import Settings
from songforge.storage.base import Storage
from songforge.task_input import TaskInput
from songforge.worker.delivery import Delivery, output_facts, prepare_delivery, store_delivery
from songforge.worker.lease import LeaseKeeper, TaskAbandoned
from songforge.worker.relay import RelayDispatcher
from songforge.worker.run_plan import Throughput, plan_run

log = logging.getLogger("songforge.worker")


class Worker:
    def __init__(
        self,
        db: Database,
        storage: Storage,
        engines: Mapping[str, Engine],
        settings: Settings,
        worker_id: str | None = None,
    ) -> None:
        self.db = db
        self.storage = storage
        self.engines = dict(engines)
        self.settings = settings
        self.worker_id = worker_id or new_id("wrk", 8)
        self.lease = timedelta(seconds=settings.lease_seconds)
        self._last_reap = 0.0
        relayed = {m: e for m, e in self.engines.items() if is_relay_engine(e)}
        self.local_models = sorted(m for m in self.engines if m not in relayed)
        self.relay: RelayDispatcher | None = (
            RelayDispatcher(self, cast(dict[str, RelayEngine], relayed)) if relayed else None
        )
        self._advertised: list[str] = []
        self.catalog = load_catalog(settings.catalog_path)
        # Measured here, song after song: the basis of each task's ETA.
        self.throughput = Throughput()

    @property
    def models(self) -> list[str]:
        return sorted(self.engines)

    def advertised_models(self) -> list[str]:
        """The models this worker offers now: local ones, and remote ones whose
        upstream currently answers."""
        relayed = self.relay.live_models() if self.relay is not None else []
        return sorted([*self.local_models, *relayed])

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set: register, then claim and run tasks."""
        if self.relay is not None:
            self.relay.start(stop)
            # The first probes decide which remote models are live at all.
            self.relay.ready.wait(30)
        self._advertised = self.advertised_models()
        register_worker(self.db, self.worker_id, self._advertised)
        presence = threading.Thread(target=self._presence, args=(stop,), daemon=True)
        presence.start()
        log.info("worker %s serving %s", self.worker_id, ", ".join(self._advertised))
        try:
            while not stop.is_set():
                if not self.local_models:
                    stop.wait(self.settings.poll_interval_seconds)
                    continue
                try:
                    worked = self.run_once()
                except Exception:
                    # The database may be briefly unreachable (failover, restart):
                    # keep the worker alive and try again after a pause.
                    log.exception("worker %s: claiming failed; retrying", self.worker_id)
                    stop.wait(max(1.0, self.settings.poll_interval_seconds))
                    continue
                if not worked:
                    stop.wait(self.settings.poll_interval_seconds)
        finally:
            if self.relay is not None:
                # The relay lets its songs in flight finish within the grace, then
                # hands the rest back.
                self.relay.join(timeout=self.settings.shutdown_grace_seconds + 5)
            stop_worker(self.db, self.worker_id)

    def _presence(self, stop: threading.Event) -> None:
        # Runs beside the engine so that a long render never makes the model look dead.
        while not stop.wait(self.settings.heartbeat_seconds):
            try:
                advertised = self.advertised_models()
                if advertised != self._advertised:
                    set_worker_models(self.db, self.worker_id, advertised)
                    self._advertised = advertised
                    log.warning("worker %s now serves %s", self.worker_id, advertised)
                metrics = self.relay.upstream_metrics() if self.relay is not None else None
                touch_worker(self.db, self.worker_id, metrics)
                self.reap_if_due()
            except Exception:
                log.exception("worker presence heartbeat failed")

    def reap_if_due(self) -> None:
        now = time.monotonic()
        if now - self._last_reap >= self.settings.reaper_interval_seconds:
            self._last_reap = now
            requeued, failed = reap_expired_leases(self.db)
            if requeued or failed:
                log.warning("reaper: %d requeued, %d failed after expired leases", requeued, failed)

    def run_once(self) -> bool:
        """Claim and process one task (or a batch, for engines that batch); False when
        the queue had nothing for us."""
        claim = claim_next_task(self.db, self.worker_id, self.local_models, self.lease)
        if claim is None:
            return False
        claims = [claim]
        engine = self.engines[claim.task.model]
        limit = engine.max_batch if isinstance(engine, BatchEngine) else 1
        while len(claims) < limit:
            more = claim_next_task(self.db, self.worker_id, [claim.task.model], self.lease)
            if more is None:
                break
            claims.append(more)
        self.process_batch(claims)
        return True

    def process_batch(self, claims: list[Claim]) -> None:
        """Render the claimed tasks of one model together, then deliver each."""
        engine = self.engines[claims[0].task.model]
        with ExitStack() as stack:
            keepers = [
                stack.enter_context(
                    LeaseKeeper(
                        self.db,
                        claim,
                        self.lease,
                        self.settings.heartbeat_seconds,
                        self._remaining_time(engine, claim),
                    )
                )
                for claim in claims
            ]
            try:
                results = self._render(engine, claims, keepers)
            except TaskAbandoned:
                log.info("tasks %s abandoned (leases lost)", [c.task.id for c in claims])
                return
            except Exception as exc:
                for claim in claims:
                    self.fail(claim, exc)
                return
            for claim, keeper, result in zip(claims, keepers, results, strict=True):
                try:
                    delivery = self._encode(claim, keeper, result)
                except TaskAbandoned:
                    log.info("task %s attempt %d abandoned", claim.task.id, claim.attempt)
                    continue
                except Exception as exc:
                    self.fail(claim, exc)
                    continue
                self.deliver(claim, delivery, result.engine)

    def _remaining_time(self, engine: Engine, claim: Claim) -> RemainingTime | None:
        """The ETA's prior for this task; None (no ETA) rather than a failed song."""
        spec = self.catalog.get(claim.task.model)
        try:
            task_input = TaskInput.from_stored(claim.task.input)
            plan = plan_run(
                self.db,
                self.throughput,
                model=claim.task.model,
                engine=engine,
                request=task_input.generation_request(),
                output=task_input.output,
                typical_run_seconds=spec.typical_runtime_seconds if spec else 30.0,
            )
        except Exception:
            log.exception("task %s: no ETA plan", claim.task.id)
            return None
        return RemainingTime(plan)

    def _render(
        self, engine: Engine, claims: list[Claim], keepers: list[LeaseKeeper]
    ) -> list[AudioResult]:
        requests = [TaskInput.from_stored(c.task.input).generation_request() for c in claims]
        if len(claims) == 1:
            started = time.perf_counter()
            result = engine.generate(requests[0], keepers[0].engine_progress)
            self.throughput.record_generate(
                claims[0].task.model, time.perf_counter() - started, result.duration_seconds
            )
            return [result]
        assert isinstance(engine, BatchEngine)

        def progress(detail: str, fraction: float) -> None:
            # A batch stops only when every one of its tasks is gone.
            alive = [keeper for keeper in keepers if not keeper.lost.is_set()]
            if not alive:
                raise TaskAbandoned()
            for keeper in alive:
                with suppress(TaskAbandoned):
                    keeper.engine_progress(detail, fraction)

        return engine.generate_many(requests, progress)

    def _encode(self, claim: Claim, keeper: LeaseKeeper, result: AudioResult) -> Delivery:
        task_input = TaskInput.from_stored(claim.task.input)
        keeper.enter_stage(TaskStage.ENCODING, 92, audio_seconds=result.duration_seconds)
        started = time.perf_counter()
        delivery = prepare_delivery(task_input, result)
        # The whole stage (encoding and reading it back) is what the ETA waits for.
        self.throughput.record_encode(
            task_input.output, time.perf_counter() - started, result.duration_seconds
        )
        keeper.enter_stage(TaskStage.ENCODING, 97)
        return delivery

    def fail(self, claim: Claim, exc: Exception) -> None:
        if isinstance(exc, GenerationError):
            outcome = fail_attempt(
                self.db,
                claim,
                {"code": 500, "message": str(exc), "type": "generation_error"},
                retryable=exc.retryable,
            )
            log.warning("task %s: engine error (%s): %s", claim.task.id, outcome, exc)
            return
        log.error(
            "task %s: unexpected error in attempt %d",
            claim.task.id,
            claim.attempt,
            exc_info=exc,
        )
        fail_attempt(
            self.db,
            claim,
            {
                "code": 500,
                "message": "The song could not be generated (internal error)",
                "type": "internal_error",
            },
            retryable=True,
        )

    def deliver(
        self,
        claim: Claim,
        delivery: Delivery,
        engine_name: str,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Store the files and complete the task (charging its hold), fenced on the lease.
        ``extra``: more output fields (a remote engine's upstream facts, attribution)."""
        task = claim.task
        output = TaskInput.from_stored(task.input).output
        keys = store_delivery(self.storage, task.id, claim.attempt, output, delivery)
        if not complete_task(self.db, claim, output_facts(delivery, engine_name, extra), keys[0]):
            # Someone else owns the task now (reaped or cancelled): our files are
            # nobody's, and nothing was charged.
            for key in keys:
                self.storage.delete(key)
            log.info("task %s attempt %d finished after losing its lease", task.id, claim.attempt)
