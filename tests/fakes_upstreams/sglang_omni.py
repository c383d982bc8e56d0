"""A fake SGLang-Omni serving MiniMax Music 3, from MiniMax's self-hosting guide and
SGLang-Omni's cookbook: ``POST /v1/audio/speech`` answers the song as a
non-streamed 32 kHz 16-bit stereo WAV; ``/health`` and ``/v1/models`` for probes;
OpenAI-style JSON errors. Optional gateway key (``api_key``).

Faults (``fake.generation.push(...)``): ``slow:<s>``, ``timeout``, ``http500``,
``http503`` (admission queue full), ``http429`` (a gateway's limit),
``not_audio``, ``reset``, ``wrong_rate`` (44.1 kHz instead of 32 kHz).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes_upstreams.common import FaultScript, RawResponse, wav_song

MODEL = "MiniMaxAI/MiniMax-Music3"
REJECTED = ("temperature", "top_p", "top_k", "repetition_penalty", "voice", "ref_audio", "language")


def openai_error(status: int, message: str, kind: str, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": param, "code": status}}
    return JSONResponse(body, status_code=status)


@dataclass
class FakeSGLangOmni:
    api_key: str | None = None
    seconds_per_frame: float = 1 / 25
    generation: FaultScript = field(default_factory=FaultScript)
    down: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/audio/speech", self.speech, methods=["POST"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    def _refused(self, request: Request) -> Response | None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return openai_error(401, "invalid api key", "authentication_error")
        return None

    async def health(self, request: Request) -> Response:
        if self.down:
            return JSONResponse({"status": "unhealthy", "running": False}, status_code=503)
        return self._refused(request) or JSONResponse({"status": "healthy", "running": True})

    async def models(self, request: Request) -> Response:
        return self._refused(request) or JSONResponse(
            {"object": "list", "data": [{"id": MODEL, "object": "model", "root": MODEL}]}
        )

    async def speech(self, request: Request) -> Response:
        if self.down:
            return openai_error(503, "service unavailable", "server_error")
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        self.bodies.append(body)
        if body.get("model", MODEL) != MODEL:
            return openai_error(
                404,
                f"The model {body['model']!r} does not exist.",
                "invalid_request_error",
                "model",
            )
        for name in REJECTED:
            if name in body:
                return openai_error(400, f"{name} is not supported", "BadRequestError", name)
        frames = body.get("max_new_tokens", 9000)
        if (
            not str(body.get("input", "")).strip()
            or not str(body.get("instructions", "")).strip()
            or not isinstance(frames, int)
            or not 1 <= frames <= 9000
            or body.get("stream", False)
            or body.get("response_format", "wav") != "wav"
            or not isinstance(body.get("seed", 0), int)
            or body.get("seed", 0) < 0
        ):
            return openai_error(400, "max_new_tokens must be 1..9000", "BadRequestError")
        fault = self.generation.next()
        if fault.startswith("slow:"):
            await asyncio.sleep(float(fault.split(":")[1]))
        elif fault == "timeout":
            await asyncio.sleep(30)
        elif fault in ("http500", "http503", "http429"):
            status = int(fault[4:])
            return openai_error(status, "upstream fault", "server_error")
        rate = 44100 if fault == "wrong_rate" else 32000
        song = wav_song(min(2.0, frames * self.seconds_per_frame), rate, seed=body.get("seed", 0))
        if fault == "not_audio":
            song = b"RIFF" + os.urandom(len(song) - 4)
        if fault == "reset":
            return RawResponse(song, b"audio/wav")  # type: ignore[return-value]
        return Response(song, media_type="audio/wav")
