"""A fake of MiniMax's music API, from its public documentation.

``POST /v1/music_generation`` (synchronous; ``model``, ``prompt``, ``lyrics``,
``is_instrumental``, ``audio_setting`` {sample_rate, bitrate, format mp3|wav},
``output_format`` hex|url) answers ``data.audio`` (hex, or a URL that expires),
``data.status`` 2, ``extra_info`` and ``base_resp`` {status_code, status_msg}.
Errors come as HTTP 200 with a non-zero ``base_resp.status_code`` (1002 rate
limit, 1004/2049 auth, 1008 balance, 1026 sensitive input, 2013 invalid
parameters, 1000/1001/1024 server side). ``POST /v1/get_voice`` is the free,
authenticated call the engine probes with.

Faults (``fake.generation.push(...)``): ``slow:<s>``, ``gather:<n>`` (holds the
answer until n generations are in flight at once, for at most 20 s), ``timeout`` (never
answers in time), ``http500``, ``http429``, ``malformed`` (JSON cut short),
``not_audio`` (hex of random bytes), ``reset`` (connection dropped mid-body),
``wrong_rate`` (audio at another sample rate), ``expired_url`` (the link is
already dead), ``code:<n>`` (that base_resp code).
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes_upstreams.common import FaultScript, RawResponse, mp3_song, wav_song

MODELS = ("music-2.6", "music-3.0", "music-2.5")
RATES = (16000, 24000, 32000, 44100)
BITRATES = (32000, 64000, 128000, 256000)
MESSAGES = {
    1002: "rate limit",
    1004: "not authorized",
    1008: "insufficient balance",
    1026: "input new_sensitive",
    2013: "invalid params",
    2049: "invalid api key",
    1000: "unknown error",
}


@dataclass
class FakeMiniMax:
    api_key: str = "mm-test-key"
    song_seconds: float = 2.0
    generation: FaultScript = field(default_factory=FaultScript)
    # When set, every endpoint (probe included) answers 503: an outage.
    down: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    url: str = ""
    in_flight: int = 0
    peak_in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/music_generation", self.music_generation, methods=["POST"]),
                Route("/v1/get_voice", self.get_voice, methods=["POST"]),
                Route("/files/{name}", self.file, methods=["GET"]),
                Route("/stats", self.stats, methods=["GET"]),
            ]
        )

    @staticmethod
    def base(code: int, **extra: Any) -> JSONResponse:
        msg = "success" if code == 0 else MESSAGES.get(code, "error")
        return JSONResponse({**extra, "base_resp": {"status_code": code, "status_msg": msg}})

    def _authorized(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        self.authorizations.append(header)
        return header == f"Bearer {self.api_key}"

    async def stats(self, request: Request) -> Response:
        return JSONResponse(
            {"generations": len(self.bodies), "peak_in_flight": self.peak_in_flight}
        )

    async def get_voice(self, request: Request) -> Response:
        if self.down:
            return Response("upstream down", status_code=503)
        if not self._authorized(request):
            return self.base(1004)
        return self.base(0, system_voice=[{"voice_id": "male-qn-qingse"}])

    async def file(self, request: Request) -> Response:
        name = request.path_params["name"]
        data = self.files.get(name)
        if data is None:
            return Response("<Error><Code>AccessDenied</Code></Error>", status_code=403)
        if name.startswith("reset-"):
            return RawResponse(data, b"audio/mpeg")  # type: ignore[return-value]
        return Response(data, media_type="audio/mpeg")

    async def music_generation(self, request: Request) -> Response:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._generate(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    async def _generate(self, request: Request) -> Response:
        if self.down:
            return Response("upstream down", status_code=503)
        if not self._authorized(request):
            return self.base(1004)
        try:
            body = await request.json()
        except ValueError:
            return self.base(2013)
        self.bodies.append(body)
        setting = body.get("audio_setting") or {}
        rate = setting.get("sample_rate", 44100)
        bitrate = setting.get("bitrate", 256000)
        lyrics = body.get("lyrics") or ""
        if (
            body.get("model") not in MODELS
            or not isinstance(body.get("prompt"), str)
            or len(body["prompt"]) > 2000
            or len(lyrics) > 3500
            or (not lyrics and not body.get("is_instrumental"))
            or rate not in RATES
            or bitrate not in BITRATES
            or setting.get("format", "mp3") not in ("mp3", "wav")
            or body.get("output_format", "hex") not in ("hex", "url")
        ):
            return self.base(2013)
        fault = self.generation.next()
        if fault.startswith("slow:"):
            await asyncio.sleep(float(fault.split(":")[1]))
        elif fault.startswith("gather:"):
            # Proof of concurrency that does not depend on how fast the tasks arrive.
            wanted, waited = int(fault.split(":")[1]), 0.0
            while self.in_flight < wanted and waited < 20:
                await asyncio.sleep(0.02)
                waited += 0.02
        elif fault == "timeout":
            await asyncio.sleep(30)
        elif fault == "http500":
            return Response("Internal Server Error", status_code=500)
        elif fault == "http429":
            return Response("Too Many Requests", status_code=429, headers={"Retry-After": "1"})
        elif fault.startswith("code:"):
            return self.base(int(fault.split(":")[1]))
        elif fault == "malformed":
            return Response('{"data": {"audio": "49443', media_type="application/json")
        if fault == "wrong_rate":
            rate = 32000 if rate != 32000 else 24000
        kbps = min(bitrate // 1000, 160) if rate < 32000 else bitrate // 1000
        if setting.get("format") == "wav":
            song = wav_song(self.song_seconds, rate, seed=len(self.bodies) % 4)
        else:
            song = mp3_song(self.song_seconds, rate, kbps, seed=len(self.bodies) % 4)
        if fault == "not_audio":
            song = os.urandom(len(song))
        extra_info = {
            "music_duration": int(self.song_seconds * 1000),
            "music_sample_rate": rate,
            "music_channel": 2,
            "bitrate": bitrate,
            "music_size": len(song),
        }
        if body.get("output_format", "hex") == "url":
            name = ("reset-" if fault == "reset" else "") + uuid.uuid4().hex + ".mp3"
            if fault != "expired_url":
                self.files[name] = song
            audio = f"{self.url}/files/{name}"
        else:
            audio = song.hex()
            if fault == "reset":
                payload = self.base(0, data={"audio": audio, "status": 2}, extra_info=extra_info)
                return RawResponse(payload.body, b"application/json")  # type: ignore[return-value]
        return self.base(
            0,
            data={"audio": audio, "status": 2},
            extra_info=extra_info,
            trace_id=uuid.uuid4().hex,
        )
