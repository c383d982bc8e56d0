"""``sglang-omni``: MiniMax Music 3 served by SGLang-Omni, the serving path of MiniMax's
self-hosting guide ("Self-host MiniMax Music 3") and SGLang-Omni's cookbook.

What we read: ``POST /v1/audio/speech`` with ``model``, ``input`` (the lyrics,
non-empty, each tag on its own line), ``instructions`` (the caption, non-empty),
``seed`` (non-negative), ``max_new_tokens`` (a cap on acoustic frames at 25 per
second; the server accepts at most 9000, the model is documented up to 7500 =
five minutes), ``response_format`` ``wav`` and ``stream`` false. The answer is
the song itself: a non-streamed 32 kHz, 16-bit stereo WAV. Sampling fields
(temperature, voice...) are refused by the server, so none are sent. Errors are
OpenAI-style ``{"error": {message, type, param, code}}`` (400 bad request, 404
unknown model, 500, 503 when its admission queue is full). ``GET /health``
(200 healthy) and ``GET /v1/models`` are the probe. The server has no key of its
own; ``api_key_env`` is for a gateway the operator puts in front of it.

The model's licence requires products to credit "MiniMax-Music3": the task
output carries it as ``attribution``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from songforge.engines.base import EngineUnavailable
from songforge.engines.minimax_music3 import INSTRUMENTAL_LYRICS, m3_caption, m3_lyrics
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

FAMILY = "sglang-omni"
DEFAULT_MODEL = "MiniMaxAI/MiniMax-Music3"
FRAMES_PER_SECOND = 25
# The model card's five minutes; SGLang-Omni itself accepts up to 9000 frames.
DEFAULT_MAX_FRAMES = 7500
SERVER_MAX_FRAMES = 9000


class SGLangOmniEngine(RemoteEngine):
    family = FAMILY
    attribution = "MiniMax-Music3"

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(
            parse_options(
                FAMILY,
                options,
                default_model=DEFAULT_MODEL,
                key_required=False,
                extra=frozenset({"max_frames"}),
            )
        )
        max_frames = options.get("max_frames", DEFAULT_MAX_FRAMES)
        if not isinstance(max_frames, int) or not 1 <= max_frames <= SERVER_MAX_FRAMES:
            raise EngineUnavailable(f"{FAMILY}: max_frames must be 1..{SERVER_MAX_FRAMES}")
        self.max_frames = max_frames

    def request_body(self, request: RelayRequest) -> dict[str, Any]:
        song = request.song
        # An instrumental is asked the way the model knows: no sung text.
        lyrics = m3_lyrics("" if song.instrumental else song.lyrics)
        frames = self.max_frames
        if song.duration is not None and song.duration > 0:
            frames = min(frames, max(1, math.ceil(song.duration * FRAMES_PER_SECOND)))
        return {
            "model": self.options.upstream_model,
            "input": lyrics,
            "instructions": m3_caption(song.prompt, instrumental=lyrics == INSTRUMENTAL_LYRICS),
            # The server wants a non-negative 64-bit seed; ours may be any integer.
            "seed": song.seed % (1 << 63),
            "max_new_tokens": frames,
            "response_format": "wav",
            "stream": False,
        }

    async def call_upstream(self, request: RelayRequest, progress: Progress) -> UpstreamAudio:
        progress("waiting for SGLang-Omni", 0.05)
        response = await self.client.post(
            "/v1/audio/speech", json=self.request_body(request), headers=self.auth_headers()
        )
        if response.status_code != 200:
            raise self._failure(response.status_code, response.headers)
        return UpstreamAudio(data=response.content, container="wav", metadata={})

    def _failure(self, status: int, headers: Mapping[str, str]) -> UpstreamError:
        if status == 404:
            error = unavailable(
                f"SGLang-Omni does not serve {self.options.upstream_model}", retryable=False
            )
            error.breaks_circuit = True
            return error
        return http_failure(status, headers, "generating the song")

    async def probe(self) -> ProbeResult:
        try:
            health = await self.client.get("/health", headers=self.auth_headers(), timeout=10.0)
            if health.status_code in (401, 403):
                return ProbeResult(False, "the gateway refused the API key", key_accepted=False)
            if health.status_code != 200:
                return ProbeResult(False, f"SGLang-Omni is not healthy (HTTP {health.status_code})")
            models = await self.client.get("/v1/models", headers=self.auth_headers(), timeout=10.0)
        except Exception as exc:
            return ProbeResult(
                False, f"no answer from {self.options.base_url} ({type(exc).__name__})"
            )
        key = True if self.options.api_key is not None else None
        try:
            served = [m.get("id") for m in json_object(models, "listing models").get("data", [])]
        except (UpstreamError, AttributeError):
            return ProbeResult(False, "SGLang-Omni's model list is unreadable", key_accepted=key)
        return served_model_probe("SGLang-Omni", served, self.options.upstream_model, key)


def create_engine(options: Mapping[str, Any]) -> SGLangOmniEngine:
    return SGLangOmniEngine(options)
