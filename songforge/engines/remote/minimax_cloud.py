"""``minimax-cloud``: MiniMax's own music API (``POST /v1/music_generation``).

What we read (docs/engines.md cites the pages): the call is synchronous; the
body carries ``model`` (``music-2.6``, ``music-3.0``...), ``prompt`` (style,
up to 2000 characters), ``lyrics`` (up to 3500; required unless
``is_instrumental``), ``audio_setting`` {``sample_rate`` 16000/24000/32000/
44100, ``bitrate`` 32000/64000/128000/256000, ``format`` mp3/wav/pcm} and
``output_format`` ``hex`` (default) or ``url`` (a link valid for 24 hours).
The answer has ``data.audio``, ``data.status`` (2 = complete), ``extra_info``
(``music_duration`` ms, ``music_sample_rate``, ``bitrate``...) and
``base_resp.status_code`` (0 = success). No seed or duration is accepted, so
neither is sent.

The probe is ``POST /v1/get_voice`` with ``voice_type = system``: free,
authenticated, and answered with the same ``base_resp`` codes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import suppress
from typing import Any

from songforge.audio.output_format import OutputFormat
from songforge.engines.remote.audio import UpstreamAudio
from songforge.engines.remote.base import (
    ProbeResult,
    Progress,
    RelayRequest,
    RemoteEngine,
    http_failure,
    json_object,
)
from songforge.engines.remote.errors import (
    UpstreamError,
    auth_failed,
    content_refused,
    invalid,
    rate_limited,
    unavailable,
)
from songforge.engines.remote.options import parse_options

FAMILY = "minimax-cloud"
DEFAULT_BASE_URL = "https://api.minimax.io"
DEFAULT_MODEL = "music-2.6"
MINIMAX_BITRATES = (32000, 64000, 128000, 256000)
MINIMAX_SAMPLE_RATES = (16000, 24000, 32000, 44100)
# Asked for when MiniMax cannot make the requested format itself: the best MP3 it
# makes at that rate, which we then re-encode (MPEG-2 rates top out at 160 kbps).
REENCODE_SOURCE_BITRATE = {16000: 128000, 24000: 128000, 32000: 256000, 44100: 256000}
# MiniMax's audio_setting always carries a bitrate; for a WAV it does not apply.
LOSSLESS_SOURCE_BITRATE = 256000

GENERATING = "generating the song"
# Answers larger than this are decoded off the loop (engine.offload): a song sent as
# hex is twice its size in JSON (11 MB for 3 minutes at 256 kbps), ~50 ms of
# json.loads and bytes.fromhex that would hold the loop. Error answers and links
# are a few hundred bytes.
OFFLOAD_ANSWER_BYTES = 256 * 1024

# base_resp.status_code -> how the task ends (MiniMax's error-code page).
RETRYABLE_SERVER_CODES = frozenset({1000, 1001, 1024, 1033})
AUTH_CODES = frozenset({1004, 2049})
BALANCE_CODES = frozenset({1008})
SENSITIVE_CODES = frozenset({1026, 1027})
INVALID_CODES = frozenset({2013})
RATE_LIMIT_CODES = frozenset({1002})


def status_error(code: int, doing: str) -> UpstreamError:
    """Map MiniMax's ``base_resp.status_code`` (non-zero) to how the task ends."""
    if code in RATE_LIMIT_CODES:
        return rate_limited(f"MiniMax is rate-limiting this key ({doing})")
    if code in AUTH_CODES:
        return auth_failed(f"MiniMax refused the operator's API key (code {code})")
    if code in BALANCE_CODES:
        error = unavailable("the operator's MiniMax account has no balance left", retryable=False)
        error.breaks_circuit = True
        return error
    if code in SENSITIVE_CODES:
        return content_refused(
            "MiniMax declined this request under its content policy; change the prompt or lyrics"
        )
    if code in INVALID_CODES:
        return invalid("MiniMax rejected the request's parameters")
    if code in RETRYABLE_SERVER_CODES:
        return unavailable(f"MiniMax had a server-side error (code {code})")
    return unavailable(f"MiniMax failed with code {code}")


def audio_setting(output: OutputFormat) -> tuple[dict[str, Any], bool]:
    """What to ask MiniMax for, and whether its answer can be kept as is."""
    sample_rate = output.sample_rate
    plan = output.mp3_plan
    if plan is None:
        # A WAV or FLAC is made from MiniMax's own WAV (never from an MP3): asked at the
        # delivered rate, written again as 16-bit WAV/FLAC by the delivery step.
        return {
            "sample_rate": sample_rate,
            "bitrate": LOSSLESS_SOURCE_BITRATE,
            "format": "wav",
        }, False
    exact = (
        plan.mode == "cbr"
        and plan.kbps * 1000 in MINIMAX_BITRATES
        and plan.sample_rate in MINIMAX_SAMPLE_RATES
    )
    asked = plan.kbps * 1000 if exact else REENCODE_SOURCE_BITRATE[sample_rate]
    return {"sample_rate": sample_rate, "bitrate": asked, "format": "mp3"}, exact


class MiniMaxCloudEngine(RemoteEngine):
    family = FAMILY

    def __init__(self, options: Mapping[str, Any]) -> None:
        super().__init__(
            parse_options(
                FAMILY,
                options,
                default_model=DEFAULT_MODEL,
                key_required=True,
                extra=frozenset({"output_format"}),
                default_base_url=DEFAULT_BASE_URL,
            )
        )
        self.output_format = str(options.get("output_format", "url"))
        if self.output_format not in ("url", "hex"):
            from songforge.engines.base import EngineUnavailable

            raise EngineUnavailable(f"{FAMILY}: output_format must be 'url' or 'hex'")

    def request_body(self, request: RelayRequest) -> dict[str, Any]:
        song = request.song
        setting, _ = audio_setting(request.output)
        body: dict[str, Any] = {
            "model": self.options.upstream_model,
            "prompt": song.prompt,
            "audio_setting": setting,
            "output_format": self.output_format,
        }
        if song.lyrics.strip() and not song.instrumental:
            body["lyrics"] = song.lyrics
        else:
            body["is_instrumental"] = True
        return body

    async def call_upstream(self, request: RelayRequest, progress: Progress) -> UpstreamAudio:
        progress("waiting for MiniMax", 0.05)
        sent = self.request_body(request)
        response = await self.client.post(
            "/v1/music_generation", json=sent, headers=self.auth_headers()
        )
        if response.status_code != 200:
            raise http_failure(response.status_code, response.headers, "generating the song")
        body = await self._answer(response.content)
        code = _status_code(body)
        if code != 0:
            raise status_error(code, "generating the song")
        data = body.get("data")
        audio = data.get("audio") if isinstance(data, dict) else None
        if not isinstance(audio, (str, bytes)) or not audio:
            raise unavailable("MiniMax answered without audio")
        progress("downloading", 0.9)
        if self.output_format == "url":
            if not isinstance(audio, str) or not audio.startswith(("http://", "https://")):
                raise unavailable("MiniMax answered with an audio link that is not a URL")
            payload = await self.download(audio, with_key=False)
        elif isinstance(audio, bytes):
            payload = audio
        else:
            raise unavailable("MiniMax answered with audio that is not hex")
        found = body.get("extra_info")
        extra: dict[str, Any] = found if isinstance(found, dict) else {}
        return UpstreamAudio(
            data=payload,
            container=str(sent["audio_setting"]["format"]),
            metadata={
                key: extra[key]
                for key in ("music_duration", "music_sample_rate", "bitrate")
                if key in extra
            },
        )

    async def _answer(self, content: bytes) -> dict[str, Any]:
        """The generation answer as a JSON object, its hex audio (if any) as bytes."""
        hex_audio = self.output_format == "hex"
        try:
            if len(content) > OFFLOAD_ANSWER_BYTES:
                body = await self.offload(load_answer, content, hex_audio)
            else:
                body = load_answer(content, hex_audio)
        except ValueError:
            raise unavailable(f"the upstream sent malformed JSON while {GENERATING}") from None
        if not isinstance(body, dict):
            raise unavailable(f"the upstream sent an unexpected answer while {GENERATING}")
        return body

    async def probe(self) -> ProbeResult:
        try:
            response = await self.client.post(
                "/v1/get_voice",
                json={"voice_type": "system"},
                headers=self.auth_headers(),
                timeout=10.0,
            )
        except Exception as exc:
            return ProbeResult(
                False, f"no answer from {self.options.base_url} ({type(exc).__name__})"
            )
        if response.status_code in (401, 403):
            return ProbeResult(False, "MiniMax refused the API key", key_accepted=False)
        if response.status_code != 200:
            return ProbeResult(False, f"MiniMax answered HTTP {response.status_code}")
        try:
            code = _status_code(json_object(response, "probing"))
        except UpstreamError as exc:
            return ProbeResult(False, exc.message)
        if code in AUTH_CODES:
            return ProbeResult(
                False, f"MiniMax refused the API key (code {code})", key_accepted=False
            )
        if code != 0:
            return ProbeResult(False, f"MiniMax answered code {code}", key_accepted=True)
        return ProbeResult(True, "MiniMax answers and accepts the key", key_accepted=True)


def load_answer(content: bytes, hex_audio: bool) -> Any:
    """``json.loads`` of a generation answer with ``data.audio`` turned from hex into
    bytes when ``hex_audio`` (left a str when it is not hex). Plain data in and out:
    it may run in another process. ValueError: not JSON."""
    try:
        body = json.loads(content)
    except ValueError:  # JSONDecodeError carries the whole document; keep it short
        raise ValueError("malformed JSON") from None
    data = body.get("data") if isinstance(body, dict) else None
    if hex_audio and isinstance(data, dict) and isinstance(data.get("audio"), str):
        with suppress(ValueError):  # not hex: left a str, and the caller says so
            data["audio"] = bytes.fromhex(data["audio"])
    return body


def _status_code(body: Mapping[str, Any]) -> int:
    base = body.get("base_resp")
    code = base.get("status_code") if isinstance(base, dict) else None
    if isinstance(code, bool) or not isinstance(code, int):
        raise unavailable("MiniMax answered without a status code")
    return code


def create_engine(options: Mapping[str, Any]) -> MiniMaxCloudEngine:
    return MiniMaxCloudEngine(options)
