"""The relay worker: many upstream tasks in flight in one process, on one event loop.

Remote engines do no local compute, so a thread or process per song would waste
memory on waiting. For each model served by a remote engine, a feeder claims
tasks while fewer than ``max_concurrency`` are in flight; each claimed task is a
coroutine that awaits the upstream, then hands the CPU part (checking and, when
needed, re-encoding the audio) to a small thread pool so the loop never stalls.
Database calls (claims, heartbeats, settlement) run in another small pool: they
are short and blocking.

One heartbeat coroutine extends every in-flight lease per interval (instead of a
thread per task). A task whose lease is lost (cancelled, reaped) is cancelled
here, which aborts its upstream request. Settlement is the same fenced,
charge-once completion as for local engines (services/queue.py).

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

from songforge.audio.mp3 import EncodedAudio
from songforge.engines.remote.audio import UpstreamAudio, deliverable_mp3
from songforge.engines.remote.base import RelayEngine, RelayRequest
from songforge.engines.remote.errors import UpstreamError
from songforge.services.queue import Claim, claim_next_task, fail_attempt, heartbeat
from songforge.services.task_records import TaskStage
from songforge.worker.lease import GENERATING_SPAN, log_failed_heartbeat

if TYPE_CHECKING:
    from songforge.worker.runner import Worker

log = logging.getLogger("songforge.worker.relay")

T = TypeVar("T")

WORKER_STOPPING_ERROR = {
    "code": 503,
    "message": "The worker relaying this task stopped; the task was put back in the queue",
    "type": "worker_lost",
}


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


def finish_audio(upstream: UpstreamAudio, bitrate: int, sample_rate: int) -> EncodedAudio:
    """Check the upstream's file and make the contract's MP3 of it (CPU-bound)."""
    from songforge.worker.runner import check_encoding

    encoded = deliverable_mp3(upstream, bitrate, sample_rate)
    check_encoding(encoded, bitrate, sample_rate)
    return encoded


class RelayDispatcher:
    def __init__(self, worker: Worker, engines: Mapping[str, RelayEngine]) -> None:
        self.worker = worker
        self.engines = dict(engines)
        self.in_flight: dict[str, InFlight] = {}
        self.ready = threading.Event()
        self._stopping = False
        self._last_probe: dict[str, float] = {}
        self._db_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="relay-db")
        # Re-encoding is the only CPU work; two threads keep the loop free and
        # bound how much of the machine relaying can take.
        self._cpu_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="relay-audio")
        self._thread: threading.Thread | None = None
        # The running event loop (for diagnostics and benchmarks).
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self, stop: threading.Event) -> None:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._main(stop)), name="relay-loop", daemon=True
        )
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
        self._db_pool.shutdown(wait=False)
        self._cpu_pool.shutdown(wait=False)

    def live_models(self) -> list[str]:
        return sorted(m for m, e in self.engines.items() if not e.breaker.is_open)

    async def _main(self, stop: threading.Event) -> None:
        self.loop = asyncio.get_running_loop()
        await asyncio.gather(*(self._probe(model) for model in self.engines))
        self.ready.set()
        background = [asyncio.create_task(self._feed(m), name=f"feed-{m}") for m in self.engines]
        background.append(asyncio.create_task(self._heartbeats(), name="relay-heartbeats"))
        background.append(asyncio.create_task(self._probes(), name="relay-probes"))
        try:
            while not stop.is_set():
                await asyncio.sleep(0.1)
        finally:
            self._stopping = True
            for task in background:
                task.cancel()
            running = [s.task for s in self.in_flight.values() if s.task is not None]
            for task in running:
                task.cancel()
            await asyncio.gather(*background, *running, return_exceptions=True)
            for engine in self.engines.values():
                await engine.aclose()

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
                claim = await self._db(
                    claim_next_task,
                    self.worker.db,
                    self.worker.worker_id,
                    [model],
                    self.worker.lease,
                )
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

    # -- one task ----------------------------------------------------------------

    async def _carry(self, engine: RelayEngine, state: InFlight) -> None:
        claim = state.claim
        task_input = claim.task.input
        bitrate, sample_rate = int(task_input["bitrate"]), int(task_input["sample_rate"])
        from songforge.worker.runner import request_from_input

        try:
            request = RelayRequest(song=request_from_input(task_input), bitrate=bitrate)
            loop = asyncio.get_running_loop()

            async def finish(audio: UpstreamAudio) -> tuple[UpstreamAudio, EncodedAudio]:
                state.detail, state.dirty = "checking the upstream's audio", True
                encoded = await loop.run_in_executor(
                    self._cpu_pool, finish_audio, audio, bitrate, sample_rate
                )
                return audio, encoded

            upstream, encoded = await engine.relay(request, state.report, finish)
            state.stage, state.progress, state.detail = TaskStage.ENCODING, 97, None
            if not await self._db(self._beat, state):
                raise asyncio.CancelledError
            extra = {"upstream": {"model": engine.options.upstream_model, **upstream.metadata}}
            attribution = getattr(engine, "attribution", None)
            if attribution:
                extra["attribution"] = attribution
            await self._db(self.worker.deliver, claim, encoded, engine.name, extra)
            engine.breaker.record_success()
        except asyncio.CancelledError:
            if state.lost:
                log.info("task %s attempt %d abandoned (lease lost)", claim.task.id, claim.attempt)
            elif self._stopping:
                outcome = await self._db(
                    fail_attempt, self.worker.db, claim, WORKER_STOPPING_ERROR, retryable=True
                )
                log.info("task %s handed back on stop (%s)", claim.task.id, outcome)
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
        kwargs: dict[str, Any] = {}
        if state.dirty:
            kwargs = {"stage": state.stage, "progress": state.progress}
            if state.detail is not None:
                kwargs["stage_detail"] = state.detail
            state.dirty = False
        try:
            alive = heartbeat(self.worker.db, state.claim, self.worker.lease, **kwargs)
        except Exception as exc:
            log_failed_heartbeat(state.claim, exc)
            return True  # a database hiccup is not a lost lease
        if not alive:
            state.lost = True
        return alive

    def _beat_all(self, states: list[InFlight]) -> list[InFlight]:
        return [state for state in states if not self._beat(state)]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.worker.settings.heartbeat_seconds)
            states = [s for s in self.in_flight.values() if s.stage == TaskStage.GENERATING]
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
