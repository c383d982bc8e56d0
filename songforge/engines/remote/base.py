"""What every remote engine shares: the shape the relay worker drives, the HTTP
client, and the retry loop that keeps a task inside its deadline.

A remote engine is not an ``Engine`` that renders samples: it is awaited on
the relay worker's event loop (``relay``), returns the upstream's file
(``UpstreamAudio``), and says whether its upstream answers (``probe``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

import httpx

from songforge.audio.output_format import OutputFormat
from songforge.engines.base import (
    AudioResult,
    GenerationError,
    GenerationRequest,
    ProgressCallback,
)
from songforge.engines.remote.audio import UpstreamAudio
from songforge.engines.remote.call_stats import CallStats
from songforge.engines.remote.errors import (
    UpstreamError,
    auth_failed,
    invalid,
    rate_limited,
    retry_after_seconds,
    unavailable,
)
from songforge.engines.remote.options import RelayOptions
from songforge.engines.remote.pacing import CircuitBreaker, Pacer
from songforge.engines.remote.turns import next_step

log = logging.getLogger("songforge.engines.remote")

T = TypeVar("T")
Progress = Callable[[str, float], None]
# Runs a CPU-bound function of plain, picklable data away from the event loop.
Offload = Callable[..., Awaitable[Any]]

# httpx's connection pool re-scans every connection and queued request on each
# state change (a poll() per idle connection, and a quadratic count), so its cost per
# request grows with the pool; calls are spread over many clients of this many
# connections. 4 took a third off the loop's CPU per song against 32 (docs/benchmarks.md,
# "Relay worker, third pass").
CONNECTIONS_PER_CLIENT = 4
# Largest file we download from an upstream (a 6-minute WAV at 48 kHz is ~70 MB).
MAX_DOWNLOAD_BYTES = 256 * 1024 * 1024
BACKOFF_CAP_SECONDS = 30.0


@dataclass(frozen=True)
class RelayRequest:
    """A validated task as a remote engine sees it."""

    song: GenerationRequest
    # The file the user asked for, so the engine can ask the upstream for it.
    output: OutputFormat


@dataclass(frozen=True)
class ProbeResult:
    """Whether the upstream answers, and whether it accepted our key (None: no key
    is involved or the upstream could not say)."""

    ok: bool
    detail: str
    key_accepted: bool | None = None


def served_model_probe(
    upstream: str, served: list[Any], wanted: str, key_accepted: bool | None
) -> ProbeResult:
    """The probe's verdict once an upstream listed the models it serves: live only if
    ``wanted`` is among them (a server up with another model loaded cannot take tasks)."""
    if wanted not in served:
        return ProbeResult(False, f"{upstream} serves {served}, not {wanted}", key_accepted)
    return ProbeResult(True, f"{upstream} serves {wanted}", key_accepted)


@runtime_checkable
class RelayEngine(Protocol):
    """An engine that forwards tasks to a running inference service."""

    name: str
    max_concurrency: int
    breaker: CircuitBreaker
    options: RelayOptions
    calls: CallStats
    offload: Offload

    def load(self) -> None: ...

    async def relay(
        self,
        request: RelayRequest,
        progress: Progress,
        finish: Callable[[UpstreamAudio], Awaitable[T]],
    ) -> T: ...

    async def probe(self) -> ProbeResult: ...

    async def aclose(self) -> None: ...


def is_relay_engine(engine: object) -> bool:
    return isinstance(engine, RelayEngine)


class RemoteEngine(ABC):
    family: ClassVar[str]
    # A licence attribution the output must carry, if the upstream model has one.
    attribution: ClassVar[str | None] = None

    def __init__(self, options: RelayOptions) -> None:
        self.options = options
        self.name = f"{self.family}/{options.upstream_model}"
        self.max_concurrency = options.max_concurrency
        self.breaker = CircuitBreaker(options.failure_threshold)
        self.calls = CallStats()
        self._clients: list[httpx.AsyncClient | None] = []
        self._next_client = 0
        self._pacer: Pacer | None = None
        # Made here, off the event loop: loading the CA bundle takes tens of ms.
        self._tls = tls_context()
        # Where big answers are decoded. A thread by default; the relay worker puts
        # its audio processes here, since json.loads and bytes.fromhex keep the GIL
        # for their whole run (tens of ms for a song sent as hex), so a thread would
        # still hold the loop.
        self.offload: Offload = asyncio.to_thread

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} at {self.options.base_url}>"

    # -- what the worker calls -------------------------------------------------

    def load(self) -> None:  # noqa: B027 (nothing to load; options were checked by the factory)
        """Options and key were checked by the factory; nothing to load locally."""

    def generate(self, request: GenerationRequest, progress: ProgressCallback) -> AudioResult:
        # Remote engines are driven by the relay worker (relay); the blocking
        # worker loop never claims their tasks.
        raise GenerationError(f"{self.name} is a remote engine; it runs in the relay worker")

    async def relay(
        self,
        request: RelayRequest,
        progress: Progress,
        finish: Callable[[UpstreamAudio], Awaitable[T]],
    ) -> T:
        """Call the upstream until it gives a song, a final refusal, or the deadline
        passes. ``finish`` checks (and converts) the upstream's file; a file that is
        not real audio counts as a failed try. Retryable failures back off
        (exponential, with jitter); rate-limit answers also slow every other call
        of this engine down (Pacer)."""
        pacer = self._pacer_for_loop()
        deadline = time.monotonic() + self.options.deadline_s
        retries = 0
        while True:
            try:
                await pacer.acquire(deadline)
            except TimeoutError:
                raise rate_limited("the upstream kept asking us to slow down") from None
            failure: UpstreamError | None = None
            called = time.monotonic()
            took: float | None = None
            try:
                remaining = deadline - time.monotonic()
                async with asyncio.timeout(remaining):
                    audio = await self.call_upstream(request, progress)
                took = time.monotonic() - called
                await next_step()  # answers come in bursts: spread their processing
                result = await finish(audio)
                self.calls.record("ok", took)
                return result
            except UpstreamError as exc:
                failure = exc
            except TimeoutError:
                failure = unavailable(
                    "the upstream did not finish the song in time", retryable=False
                )
            except httpx.TimeoutException:
                failure = unavailable("the upstream did not answer in time")
            except httpx.TransportError as exc:
                failure = unavailable(
                    f"the connection to the upstream failed ({type(exc).__name__})"
                )
            finally:
                if failure is not None:
                    # The upstream's time only (not our checking of its file).
                    self.calls.record(failure.kind, took or time.monotonic() - called)
                limited = failure is not None and failure.kind == "upstream_rate_limited"
                await pacer.release(
                    rate_limited=limited, retry_after=failure.retry_after if failure else None
                )
            assert failure is not None
            if not failure.retryable or retries >= self.options.max_retries:
                raise failure
            pause = min(BACKOFF_CAP_SECONDS, 2.0**retries) * random.uniform(0.5, 1.0)
            if failure.retry_after is not None:
                pause = max(pause, failure.retry_after)
            if time.monotonic() + pause >= deadline:
                raise failure
            log.info("%s: %s; retrying in %.1f s", self.name, failure.message, pause)
            progress(f"retrying ({failure.kind})", 0.0)
            await asyncio.sleep(pause)
            retries += 1

    @abstractmethod
    async def call_upstream(self, request: RelayRequest, progress: Progress) -> UpstreamAudio:
        """One try: ask the upstream for the song and download it."""

    @abstractmethod
    async def probe(self) -> ProbeResult:
        """A cheap call (never a paid generation) that says whether the upstream answers."""

    async def aclose(self) -> None:
        clients, self._clients = self._clients, []
        for client in clients:
            if client is not None:
                await client.aclose()

    # -- helpers for the families ------------------------------------------------

    def _pacer_for_loop(self) -> Pacer:
        if self._pacer is None:
            self._pacer = Pacer(self.max_concurrency)
        return self._pacer

    @property
    def client(self) -> httpx.AsyncClient:
        """An HTTP client for the next call (round robin over small pools, each made
        when first used: a client costs about a millisecond of the loop to make)."""
        if not self._clients:
            count = max(1, -(-self.max_concurrency // CONNECTIONS_PER_CLIENT))
            self._clients = [None] * count
        self._next_client = (self._next_client + 1) % len(self._clients)
        client = self._clients[self._next_client]
        if client is None:
            # Twice the even share: round robin does not keep the pools exactly even.
            per_client = 2 * -(-self.max_concurrency // len(self._clients)) + 2
            limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
            client = httpx.AsyncClient(
                base_url=self.options.base_url,
                timeout=httpx.Timeout(self.options.timeout_s, connect=10.0),
                limits=limits,
                follow_redirects=True,
                verify=self._tls,
            )
            self._clients[self._next_client] = client
        return client

    def auth_headers(self) -> dict[str, str]:
        key = self.options.api_key
        return {"Authorization": f"Bearer {key.reveal()}"} if key is not None else {}

    async def download(self, url: str, *, with_key: bool) -> bytes:
        """Fetch the upstream's file now (its links expire; ours replace them)."""
        headers = self.auth_headers() if with_key else {}
        await next_step()  # answers come in bursts: spread the downloads they start
        async with self.client.stream("GET", url, headers=headers) as response:
            if response.status_code in (403, 404, 410):
                raise unavailable("the upstream's audio link had already expired or vanished")
            if response.status_code != 200:
                raise http_failure(response.status_code, response.headers, "downloading the song")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_DOWNLOAD_BYTES:
                    raise unavailable("the upstream's audio file is larger than any song")
                chunks.append(chunk)
        return b"".join(chunks)


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One verifying TLS context for every upstream client. httpx would build one per
    client (``verify=True``), each loading the CA bundle: ~25 ms of the loop's time per
    client, and the clients are made on the loop, all at the first call."""
    return httpx.create_ssl_context()


def http_failure(status: int, headers: Mapping[str, str], doing: str) -> UpstreamError:
    """The usual meaning of an HTTP error status from an upstream."""
    if status in (401, 403):
        return auth_failed(f"the upstream refused our credentials while {doing}")
    if status == 429:
        return rate_limited(
            f"the upstream is rate-limiting us ({doing})",
            retry_after_seconds(headers.get("retry-after")),
        )
    if status in (400, 413, 422):
        return invalid(f"the upstream rejected the request as invalid ({doing})")
    return unavailable(f"the upstream failed with HTTP {status} while {doing}")


def json_object(response: httpx.Response, doing: str) -> dict[str, Any]:
    """The body as a JSON object, or a retryable failure when it is not one."""
    try:
        body = response.json()
    except ValueError:
        raise unavailable(f"the upstream sent malformed JSON while {doing}") from None
    if not isinstance(body, dict):
        raise unavailable(f"the upstream sent an unexpected answer while {doing}")
    return body
