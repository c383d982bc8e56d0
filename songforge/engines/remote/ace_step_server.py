"""``ace-step-server``: ACE-Step 1.5's own API server (``acestep/api_server.py``,
docs/en/API.md of ace-step/ACE-Step-1.5).

What we read: ``POST /release_task`` (JSON: ``prompt``, ``lyrics``,
``audio_duration`` 10-600 s, ``audio_format`` mp3/wav/flac, ``batch_size``
default 2, ``use_random_seed`` + ``seed``, ``thinking``, ``model`` = a DiT
model name) answers ``{"data": {"task_id", "status", "queue_position"},
"code": 200, "error": null}``; ``POST /query_result`` with ``task_id_list``
answers per task ``status`` 0 (queued/running), 1 (succeeded), 2 (failed) and a
``result`` that is a JSON *string* holding a list whose items carry ``file``
(``/v1/audio?path=...``, downloaded with ``GET``). Authentication is optional:
``Authorization: Bearer <key>`` when the server has ``ACESTEP_API_KEY``. HTTP
errors: 400, 401, 415, 429 (queue full), 500, as ``{"detail": ...}``. The probe
is ``GET /health`` (no key needed) then ``GET /v1/models`` (needs the key).

We ask for one song (``batch_size`` 1), our seed, and FLAC (lossless and
smaller than WAV), then encode the contract's MP3 ourselves.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from songforge.engines.ace_step import INSTRUMENTAL_LYRICS, ace_caption, ace_lyrics
from songforge.engines.base import EngineUnavailable
from songforge.engines.remote.audio import UpstreamAudio
from songforge.engines.remote.base import (
    ProbeResult,
    Progress,
    RelayRequest,
    RemoteEngine,
    http_failure,
    json_object,
    served_model_probe,
)
from songforge.engines.remote.errors import UpstreamError, unavailable
from songforge.engines.remote.options import parse_options

FAMILY = "ace-step-server"
DEFAULT_MODEL = "acestep-v15-turbo"
MIN_SECONDS, MAX_SECONDS = 10.0, 600.0


class AceStepServerEngine(RemoteEngine):
    family = FAMILY

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(
            parse_options(
                FAMILY,
                options,
                default_model=DEFAULT_MODEL,
                key_required=False,
                extra=frozenset({"poll_interval_s", "default_duration_s", "thinking"}),
            )
        )
        try:
            self.poll_interval_s = float(options.get("poll_interval_s", 2.0))
            self.default_duration_s = float(options.get("default_duration_s", 120.0))
        except (TypeError, ValueError) as exc:
            raise EngineUnavailable(f"{FAMILY}: poll_interval_s/default_duration_s: {exc}") from exc
        self.thinking = bool(options.get("thinking", True))

    def request_body(self, request: RelayRequest) -> dict[str, Any]:
        song = request.song
        seconds = song.duration if song.duration and song.duration > 0 else self.default_duration_s
        # An instrumental is asked the way the model knows: no sung text.
        lyrics = ace_lyrics("" if song.instrumental else song.lyrics)
        return {
            "prompt": ace_caption(song.prompt),
            "lyrics": lyrics,
            "audio_duration": min(MAX_SECONDS, max(MIN_SECONDS, float(seconds))),
            "audio_format": "flac",
            "batch_size": 1,
            "use_random_seed": False,
            "seed": song.seed % (1 << 31),
            "thinking": self.thinking,
            "vocal_language": "unknown" if lyrics == INSTRUMENTAL_LYRICS else "en",
            "model": self.options.upstream_model,
        }

    async def call_upstream(self, request: RelayRequest, progress: Progress) -> UpstreamAudio:
        progress("queued at ACE-Step", 0.02)
        released = await self.client.post(
            "/release_task", json=self.request_body(request), headers=self.auth_headers()
        )
        if released.status_code != 200:
            raise http_failure(released.status_code, released.headers, "submitting the song")
        data = json_object(released, "submitting the song").get("data")
        task_id = data.get("task_id") if isinstance(data, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise unavailable("ACE-Step answered without a task id")
        item = await self._wait_for(task_id, progress)
        file = item.get("file")
        if not isinstance(file, str) or not file:
            raise unavailable("ACE-Step finished without an audio file")
        progress("downloading", 0.95)
        payload = await self.download(file, with_key=True)
        metas = item.get("metas") if isinstance(item.get("metas"), dict) else {}
        return UpstreamAudio(
            data=payload,
            container="flac",
            metadata={"task_id": task_id, "seed": item.get("seed_value"), **(metas or {})},
        )

    async def probe(self) -> ProbeResult:
        try:
            return await _probe(self)
        except Exception as exc:
            return ProbeResult(
                False, f"no answer from {self.options.base_url} ({type(exc).__name__})"
            )

    async def _wait_for(self, task_id: str, progress: Progress) -> dict[str, Any]:
        """Poll until the task succeeds (its first result item) or fails."""
        while True:
            await asyncio.sleep(self.poll_interval_s)
            answer = await self.client.post(
                "/query_result", json={"task_id_list": [task_id]}, headers=self.auth_headers()
            )
            if answer.status_code != 200:
                raise http_failure(answer.status_code, answer.headers, "asking for the song")
            entries = json_object(answer, "asking for the song").get("data")
            entry = next(
                (e for e in entries or [] if isinstance(e, dict) and e.get("task_id") == task_id),
                None,
            )
            if entry is None:
                raise unavailable("ACE-Step's answer does not mention our task")
            items = _result_items(entry.get("result"))
            status = entry.get("status")
            if status == 1:
                if not items:
                    raise unavailable("ACE-Step reported success without a result")
                return items[0]
            if status == 2:
                raise unavailable("ACE-Step could not generate the song")
            if status != 0:
                raise unavailable(f"ACE-Step reported an unknown status {status!r}")
            fraction = items[0].get("progress") if items else None
            if isinstance(fraction, int | float):
                progress("generating at ACE-Step", 0.05 + 0.85 * max(0.0, min(1.0, fraction)))


def _result_items(raw: object) -> list[dict[str, Any]]:
    """``result`` is a JSON string holding a list of objects."""
    if raw is None or raw == "":
        return []
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise unavailable("ACE-Step's result is not valid JSON") from None
    if not isinstance(parsed, list):
        raise unavailable("ACE-Step's result is not a list")
    return [item for item in parsed if isinstance(item, dict)]


async def _probe(engine: AceStepServerEngine) -> ProbeResult:
    client, headers = engine.client, engine.auth_headers()
    health = await client.get("/health", timeout=10.0)
    if health.status_code != 200:
        return ProbeResult(False, f"ACE-Step is not healthy (HTTP {health.status_code})")
    models = await client.get("/v1/models", headers=headers, timeout=10.0)
    if models.status_code == 401:
        return ProbeResult(False, "ACE-Step refused the API key", key_accepted=False)
    if models.status_code != 200:
        return ProbeResult(False, f"ACE-Step's model list failed (HTTP {models.status_code})")
    key = True if engine.options.api_key is not None else None
    try:
        data = json_object(models, "listing models").get("data") or {}
        names = [m.get("name") for m in data.get("models", [])]
    except (UpstreamError, AttributeError):
        return ProbeResult(False, "ACE-Step's model list is unreadable", key_accepted=key)
    return served_model_probe("ACE-Step", names, engine.options.upstream_model, key)


def create_engine(options: Mapping[str, Any]) -> AceStepServerEngine:
    return AceStepServerEngine(options)
