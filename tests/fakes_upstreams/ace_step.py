"""A fake of ACE-Step 1.5's API server, from its docs/en/API.md and api_server.py:
``/release_task`` -> task id; ``/query_result`` -> status 0/1/2 with ``result`` as a
JSON string whose items carry ``file`` = ``/v1/audio?path=...``; ``/v1/audio``
serves the file; ``/health`` (open) and ``/v1/models`` (keyed) for probes. The
wrapper is ``{"data", "code", "error", "timestamp", "extra"}``; HTTP errors are
``{"detail": ...}``. Optional key: ``Authorization: Bearer``.

Faults (``fake.generation.push(...)``), applied to the task they are drawn for:
``slow:<s>`` (the task takes that long), ``http500``/``http429`` (at release),
``malformed`` (query answer cut short), ``failed`` (status 2), ``not_audio``,
``reset`` (download dropped mid-body), ``expired_url`` (the file is gone),
``wrong_rate`` (audio at 44.1 kHz instead of 48 kHz).
"""

from __future__ import annotations

import io
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import soundfile
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes_upstreams.common import FaultScript, RawResponse, tone

MODELS = ("acestep-v15-turbo", "acestep-v15-turbo-shift3")


def wrap(data: Any, code: int = 200, error: str | None = None) -> JSONResponse:
    return JSONResponse(
        {
            "data": data,
            "code": code,
            "error": error,
            "timestamp": int(time.time() * 1000),
            "extra": None,
        }
    )


@dataclass
class Job:
    fault: str
    ready_at: float
    path: str
    body: dict[str, Any]


@dataclass
class FakeAceStep:
    api_key: str | None = None
    song_seconds: float = 2.0
    job_seconds: float = 0.2
    generation: FaultScript = field(default_factory=FaultScript)
    down: bool = False
    bodies: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, Job] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    url: str = ""

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/release_task", self.release_task, methods=["POST"]),
                Route("/query_result", self.query_result, methods=["POST"]),
                Route("/v1/audio", self.audio, methods=["GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    def _refused(self, request: Request) -> Response | None:
        if self.api_key is None:
            return None
        header = request.headers.get("authorization", "")
        if not header:
            return JSONResponse({"detail": "Missing Authorization header"}, status_code=401)
        if header.removeprefix("Bearer ") != self.api_key:
            return JSONResponse({"detail": "Invalid API key"}, status_code=401)
        return None

    async def health(self, request: Request) -> Response:
        if self.down:
            return Response("down", status_code=502)
        return wrap({"status": "ok", "service": "ACE-Step API", "version": "1.0"})

    async def models(self, request: Request) -> Response:
        return self._refused(request) or wrap(
            {
                "models": [{"name": n, "is_default": n == MODELS[0]} for n in MODELS],
                "default_model": MODELS[0],
            }
        )

    async def release_task(self, request: Request) -> Response:
        if self.down:
            return Response("down", status_code=502)
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        if not isinstance(body, dict):
            return JSONResponse({"detail": "JSON payload must be an object"}, status_code=400)
        self.bodies.append(body)
        fault = self.generation.next()
        if fault == "http500":
            return JSONResponse({"detail": "internal error"}, status_code=500)
        if fault == "http429":
            return JSONResponse({"detail": "Server busy: queue is full"}, status_code=429)
        delay = float(fault.split(":")[1]) if fault.startswith("slow:") else self.job_seconds
        task_id = str(uuid.uuid4())
        path = f"/tmp/api_audio/{task_id}.flac"
        self.jobs[task_id] = Job(fault, time.monotonic() + delay, path, body)
        return wrap({"task_id": task_id, "status": "queued", "queue_position": 1})

    def _song(self, job: Job) -> bytes:
        rate = 44100 if job.fault == "wrong_rate" else 48000
        seconds = min(self.song_seconds, float(job.body.get("audio_duration") or self.song_seconds))
        out = io.BytesIO()
        soundfile.write(
            out, tone(seconds, rate, seed=int(job.body.get("seed", 0))), rate, format="FLAC"
        )
        data = out.getvalue()
        return b"fLaC" + os.urandom(len(data) - 4) if job.fault == "not_audio" else data

    async def query_result(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = await request.json()
        ids = body.get("task_id_list", [])
        ids = json.loads(ids) if isinstance(ids, str) else ids
        data = []
        for task_id in ids:
            job = self.jobs.get(task_id)
            if job is None:
                data.append({"task_id": task_id, "result": "[]", "status": 0})
                continue
            if job.fault == "malformed":
                job.fault = "ok"  # only this answer is broken
                return Response('{"data": [{"task_id": "', media_type="application/json")
            if time.monotonic() < job.ready_at:
                item = {"file": "", "status": 0, "progress": 0.5, "stage": "running"}
                data.append({"task_id": task_id, "result": json.dumps([item]), "status": 0})
                continue
            if job.fault == "failed":
                item = {"file": "", "status": 2, "error": "CUDA out of memory"}
                data.append({"task_id": task_id, "result": json.dumps([item]), "status": 2})
                continue
            if job.path not in self.files and job.fault != "expired_url":
                self.files[job.path] = self._song(job)
            item = {
                "file": f"/v1/audio?path={job.path}",
                "wave": "",
                "status": 1,
                "create_time": int(time.time()),
                "prompt": job.body.get("prompt", ""),
                "lyrics": job.body.get("lyrics", ""),
                "metas": {"bpm": 120, "duration": self.song_seconds, "keyscale": "C Major"},
                "seed_value": str(job.body.get("seed", -1)),
                "dit_model": job.body.get("model") or MODELS[0],
            }
            data.append({"task_id": task_id, "result": json.dumps([item]), "status": 1})
        return wrap(data)

    async def audio(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        path = request.query_params.get("path", "")
        data = self.files.get(path)
        if data is None:
            return JSONResponse({"detail": "Audio file not found"}, status_code=404)
        job = next((j for j in self.jobs.values() if j.path == path), None)
        if job is not None and job.fault == "reset":
            job.fault = "ok"
            return RawResponse(data, b"audio/flac")  # type: ignore[return-value]
        return Response(data, media_type="audio/flac")
