"""What the fake upstreams share: songs to answer with, a fault script, a runner."""

from __future__ import annotations

import asyncio
import functools
import io
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import lameenc
import numpy as np
import soundfile
from starlette.types import Receive, Scope, Send

from tests.conftest import run_server


def tone(seconds: float, rate: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    base = 220.0 * (1 + (seed % 7) / 7)
    mono = sum(0.2 * np.sin(2 * np.pi * base * r * t) for r in (1.0, 1.25, 1.5))
    return np.repeat(np.asarray(mono, dtype=np.float32)[:, None], channels, axis=1)


@functools.lru_cache(maxsize=32)
def mp3_song(seconds: float, rate: int, kbps: int, seed: int = 0) -> bytes:
    encoder = lameenc.Encoder()
    encoder.set_channels(2)
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_bit_rate(kbps)
    encoder.set_quality(7)
    pcm = (tone(seconds, rate, seed=seed) * 32767).astype("<i2").tobytes()
    return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


def wav_song(seconds: float, rate: int, seed: int = 0) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, tone(seconds, rate, seed=seed), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


class FaultScript:
    """Behaviours for the next calls of one endpoint, consumed in order; "ok" after."""

    def __init__(self) -> None:
        self._queue: deque[str] = deque()
        self._lock = threading.Lock()
        self.always: str | None = None

    def push(self, *faults: str) -> None:
        with self._lock:
            self._queue.extend(faults)

    def next(self) -> str:
        with self._lock:
            if self._queue:
                return self._queue.popleft()
        return self.always or "ok"


async def reset_mid_body(send: Send, body: bytes, content_type: bytes) -> None:
    """Start a response, send half its body, then drop the connection."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
    await asyncio.sleep(0.05)
    raise ConnectionResetError("fake upstream drops the connection mid-body")


class RawResponse:
    """An ASGI app that runs one coroutine (for faults Starlette's responses cannot make)."""

    def __init__(self, body: bytes, content_type: bytes) -> None:
        self.body, self.content_type = body, content_type

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await reset_mid_body(send, self.body, self.content_type)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    server, thread, url = run_server(app)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)
