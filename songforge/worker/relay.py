"""The relay worker: many upstream tasks in flight in one process, on one event loop.

Remote engines do no local compute, so a thread or process per song would waste
memory on waiting. For each model served by a remote engine, a feeder claims
tasks while fewer than ``max_concurrency`` are in flight; each claimed task is a
coroutine that awaits the upstream, then hands the CPU part (checking and, when
needed, re-encoding the audio) to a small process pool (worker/relay_audio.py)
so the loop never stalls.
Database calls (claims, heartbeats, settlement) run in another small pool: they
are short and blocking.

One heartbeat coroutine extends every in-flight lease per interval, in one
database transaction for all of them (instead of a thread or a transaction per
task). A task whose lease is lost (cancelled, reaped) is cancelled here, which
aborts its upstream request. Settlement is the same fenced, charge-once
completion as for local engines (services/queue.py).

Stopping (SIGTERM, decision 0007): claiming stops at once; the songs in flight
get the shutdown grace to come back from the upstream and be delivered; those
still out at the deadline are handed back to the queue (lease released, attempt
not counted, nothing charged) and their upstream calls aborted.

Liveness: a model is advertised only while its circuit is closed. Its upstream
is probed at start and then every ``probe_interval_s``; repeated failed tasks or
a refused key open the circuit (no claims, model withdrawn from the workers
row); a successful probe closes it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from songforge.engines.remote.audio import UpstreamAudio
from songforge.engines.remote.base import RelayEngine, RelayRequest
from songforge.engines.remote.errors import UpstreamError
from songforge.engines.remote.turns import next_step
from songforge.services.queue import (
    Claim,
    claim_next_task,
    fail_attempt,
    hand_back_task,
    heartbeat,
    heartbeat_leases,
    progress_values,
)
from songforge.services.task_records import TaskStage
from songforge.task_input import TaskInput
from songforge.worker.delivery import Delivery
from songforge.worker.lease import GENERATING_SPAN, log_failed_heartbeat
from songforge.worker.relay_audio import AudioPool, audio_workers

if TYPE_CHECKING:
    from songforge.worker.runner import Worker

log = logging.getLogger("songforge.worker.relay")

T = TypeVar("T")

# Of the shutdown grace, what is kept back for handing the remaining tasks back
# before the process's own deadline (worker/shutdown.py) would do it.
HAND_BACK_MARGIN_SECONDS = 2.0


@dataclass
class InFlight:
    """One claimed task being relayed, and the progress its next heartbeat writes."""

    claim: Claim
    task: asyncio.Task[None] | None = None
    stage: TaskStage = TaskStage.GENERATING
    progress: int = GENERATING_SPAN[0]
    detail: str | None = "sent to the upstream"
    dirty: bool = True
    lost: bool = False
    started: float = field(default_factory=time.monotonic)

    def report(self, detail: str, fraction: float) -> None:
        low, high = GENERATING_SPAN
        self.progress = low + int(max(0.0, min(1.0, fraction)) * (high - low))
        self.detail, self.dirty = detail, True

    def progress_update(self) -> dict[str, Any]:
        """The progress columns the next heartbeat writes (none when unchanged)."""
        if not self.dirty:
            return {}
        self.dirty = False
        return progress_values(stage=self.stage, progress=self.progress, stage_detail=self.detail)


class RelayDispatcher:
    def __init__(self, worker: Worker, engines: Mapping[str, RelayEngine]) -> None:
        self.worker = worker
        self.engines = dict(engines)
        self.in_flight: dict[str, InFlight] = {}
        self.ready = threading.Event()
        self._stopping = False
        self._last_probe: dict[str, float] = {}
        self._db_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="relay-db")
        # Checking and re-encoding are the only CPU work; processes keep it off the
        # loop's GIL, and their number bounds how much of the machine relaying takes.
        self.audio = AudioPool(workers=audio_workers())
        for engine in self.engines.values():
            engine.offload = self.audio.run  # big answers are decoded there too
        grace = worker.settings.shutdown_grace_seconds
        self.drain_seconds = max(0.0, grace - min(HAND_BACK_MARGIN_SECONDS, grace / 4))
        self._thread: threading.Thread | None = None
        # The running event loop (for diagnostics and benchmarks).
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        self.audio.start()
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(stop)), name="relay-loop", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self._db_pool.shutdown(wait=False)
        self.audio.shutdown()

    def live_models(self) -> list[str]:
        return sorted(m for m, e in self.engines.items() if not e.breaker.is_open)

    def upstream_metrics(self) -> dict[str, Any]:
        """What the presence heartbeat writes for GET /metrics: per model, its engine's
        name, its circuit and its upstream calls (engines/remote/call_stats.py)."""
        return {
            "models": {
                model: {
                    "engine": engine.name,
                    "circuit_open": engine.breaker.is_open,
                    **engine.calls.snapshot(),
                }
                for model, engine in self.engines.items()
            }
        }

    async def _main(self, stop: threading.Event) -> None:
        self.loop = asyncio.get_running_loop()
        await asyncio.gather(*(self._probe(model) for model in self.engines))
        self.ready.set()
        claiming = [asyncio.create_task(self._feed(m), name=f"feed-{m}") for m in self.engines]
        claiming.append(asyncio.create_task(self._probes(), name="relay-probes"))
        heartbeats = asyncio.create_task(self._heartbeats(), name="relay-heartbeats")
        try:
            while not stop.is_set():
                await asyncio.sleep(0.1)
        finally:
            self._stopping = True
            for task in claiming:
                task.cancel()
            await asyncio.gather(*claiming, return_exceptions=True)
            await self._drain()
            heartbeats.cancel()
            await asyncio.gather(heartbeats, return_exceptions=True)
            for engine in self.engines.values():
                await engine.aclose()

    async def _drain(self) -> None:
        """Let the songs in flight finish within the grace; hand the rest back."""
        running = [s.task for s in self.in_flight.values() if s.task is not None]
        if not running:
            return
        log.info(
            "stopping: %d relayed songs in flight, waiting at most %.0f s for them",
            len(running),
            self.drain_seconds,
        )
        _done, late = await asyncio.wait(running, timeout=self.drain_seconds)
        for task in late:
            task.cancel()  # _carry hands its task back
        await asyncio.gather(*late, return_exceptions=True)

    async def _db(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db_pool, lambda: call(*args, **kwargs))

    # -- claiming ----------------------------------------------------------------

    async def _feed(self, model: str) -> None:
        engine = self.engines[model]
        slots = asyncio.Semaphore(engine.max_concurrency)
        settings = self.worker.settings
        while True:
            if engine.breaker.is_open:
                await asyncio.sleep(min(1.0, settings.poll_interval_seconds * 4))
                continue
            await slots.acquire()
            try:
                claim = await self._claim(model)
            except Exception:
                slots.release()
                log.exception("relay %s: claiming failed; retrying", model)
                await asyncio.sleep(max(1.0, settings.poll_interval_seconds))
                continue
            if claim is None:
                slots.release()
                await asyncio.sleep(settings.poll_interval_seconds)
                continue
            state = InFlight(claim)
            self.in_flight[claim.task.id] = state
            state.task = asyncio.create_task(self._carry(engine, state), name=claim.task.id)
            state.task.add_done_callback(lambda _task: slots.release())

    async def _claim(self, model: str) -> Claim | None:
        loop = asyncio.get_running_loop()
        worker = self.worker
        claiming = loop.run_in_executor(
            self._db_pool,
            lambda: claim_next_task(worker.db, worker.worker_id, [model], worker.lease),
        )
        try:
            return await asyncio.shield(claiming)
        except asyncio.CancelledError:
            # Stopping while the claim runs in its thread: a task claimed meanwhile
            # would sit unseen until its lease expired; give it back now.
            claim = await claiming
            if claim is not None:
                await self._db(hand_back_task, worker.db, claim)
            raise

    # -- one task ----------------------------------------------------------------

    async def _carry(self, engine: RelayEngine, state: InFlight) -> None:
        claim = state.claim
        try:
            task_input = TaskInput.from_stored(claim.task.input)
            request = RelayRequest(song=task_input.generation_request(), output=task_input.output)

            async def finish(audio: UpstreamAudio) -> tuple[UpstreamAudio, Delivery]:
                state.detail, state.dirty = "checking the upstream's audio", True
                return audio, await self.audio.finish(audio, task_input.output)

            upstream, delivery = await engine.relay(request, state.report, finish)
            state.stage, state.progress, state.detail, state.dirty = (
                TaskStage.ENCODING,
                97,
                None,
                True,
            )
            await next_step()
            if not await self._db(self._beat, state):
                raise asyncio.CancelledError
            extra = {"upstream": {"model": engine.options.upstream_model, **upstream.metadata}}
            attribution = getattr(engine, "attribution", None)
            if attribution:
                extra["attribution"] = attribution
            await next_step()
            await self._db(self.worker.deliver, claim, delivery, engine.name, extra)
            engine.breaker.record_success()
        except asyncio.CancelledError:
            if state.lost:
                log.info("task %s attempt %d abandoned (lease lost)", claim.task.id, claim.attempt)
            elif self._stopping:
                # The shutdown deadline came first: a deploy is not the task's fault,
                # so the attempt does not count (decision 0007).
                handed = await self._db(hand_back_task, self.worker.db, claim)
                log.warning(
                    "task %s: shutdown deadline, %s",
                    claim.task.id,
                    "handed back to the queue" if handed else "already settled",
                )
        except UpstreamError as exc:
            self._count_failure(engine, exc)
            outcome = await self._db(
                fail_attempt, self.worker.db, claim, exc.task_error(), retryable=False
            )
            log.warning("task %s: %s: %s (%s)", claim.task.id, exc.kind, exc.message, outcome)
        except Exception as exc:
            await self._db(self.worker.fail, claim, exc)
        finally:
            self.in_flight.pop(claim.task.id, None)

    def _count_failure(self, engine: RelayEngine, exc: UpstreamError) -> None:
        if exc.kind in ("content_policy", "invalid_request"):
            return  # the upstream works; this request was the problem
        if engine.breaker.record_failure(exc.message, trip=exc.breaks_circuit):
            log.error("%s taken off-line: %s", engine.name, exc.message)

    # -- leases ------------------------------------------------------------------

    def _beat(self, state: InFlight) -> bool:
        """Extend one lease with its latest progress (database thread)."""
        try:
            alive = heartbeat(
                self.worker.db, state.claim, self.worker.lease, **state.progress_update()
            )
        except Exception as exc:
            log_failed_heartbeat(state.claim, exc)
            state.dirty = True  # write the progress next time
            return True  # a database hiccup is not a lost lease
        if not alive:
            state.lost = True
        return alive

    def _beat_all(self, states: list[InFlight]) -> list[InFlight]:
        """Extend every lease in one transaction; the states whose lease is lost."""
        leases = [(state.claim, state.progress_update()) for state in states]
        try:
            worker = self.worker
            lost = heartbeat_leases(worker.db, worker.worker_id, leases, worker.lease)
        except Exception:
            log.exception("relay heartbeat failed; retrying next interval")
            for state in states:
                state.dirty = True  # write the progress next time
            return []
        gone = [state for state in states if state.claim.task.id in lost]
        for state in gone:
            state.lost = True
        return gone

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.worker.settings.heartbeat_seconds)
            states = [s for s in self.in_flight.values() if s.stage == TaskStage.GENERATING]
            if not states:
                continue
            for state in await self._db(self._beat_all, states):
                if state.task is not None:
                    state.task.cancel()

    # -- liveness ----------------------------------------------------------------

    async def _probe(self, model: str) -> None:
        engine = self.engines[model]
        self._last_probe[model] = time.monotonic()
        try:
            result = await engine.probe()
        except Exception as exc:  # a probe must never kill the loop
            log.exception("probe of %s failed", engine.name)
            ok, detail = False, type(exc).__name__
        else:
            ok, detail = result.ok, result.detail
        if ok and engine.breaker.is_open:
            engine.breaker.close()
            log.warning("%s is back: %s", engine.name, detail)
        elif not ok and engine.breaker.record_failure(detail, trip=True):
            log.error("%s is off-line: %s", engine.name, detail)

    async def _probes(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            due = [
                model
                for model, engine in self.engines.items()
                if now - self._last_probe.get(model, 0.0) >= engine.options.probe_interval_s
            ]
            if due:
                await asyncio.gather(*(self._probe(model) for model in due))
