"""Everything the sync and async clients share, with no I/O in it.

Each API call is an ``ApiRequest``: what to send plus how to turn the answer's
``data`` into a typed value. The clients only send it and hand the status,
headers and body back to ``parse_response``. Retry decisions, the wait loop's
arithmetic and the download's temp-file-then-rename live here too, so the two
clients differ only in ``await``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Generic, TypeVar
from urllib.parse import urljoin, urlsplit

from songforge.client.errors import SongforgeError
from songforge.client.models import (
    Account,
    CreatedTask,
    Model,
    Task,
    TaskPage,
    parse_models,
)

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
URL_ENV = "SONGFORGE_URL"
API_KEY_ENV = "SONGFORGE_API_KEY"
USER_AGENT = "songforge-client/0.1"
REQUEST_ID_HEADER = "x-request-id"

Headers = Mapping[str, str]


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str
    timeout: float
    # How many times a 429 answer is retried after sleeping Retry-After; 0 = never.
    max_retries: int
    # A Retry-After longer than this is not slept through: the 429 is raised.
    max_retry_wait: float

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }


def resolve_config(
    base_url: str | None,
    api_key: str | None,
    *,
    timeout: float = 30.0,
    max_retries: int = 2,
    max_retry_wait: float = 60.0,
    environ: Mapping[str, str] | None = None,
) -> ClientConfig:
    """Arguments win over ``SONGFORGE_URL`` / ``SONGFORGE_API_KEY``."""
    env = os.environ if environ is None else environ
    url = base_url or env.get(URL_ENV) or DEFAULT_BASE_URL
    key = api_key or env.get(API_KEY_ENV)
    if not key:
        raise SongforgeError(
            f"no API key: pass api_key= or set {API_KEY_ENV}", type="configuration_error"
        )
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https"):
        raise SongforgeError(
            f"base URL must start with http:// or https://, got {url!r}",
            type="configuration_error",
        )
    if max_retries < 0:
        raise SongforgeError("max_retries must be 0 or more", type="configuration_error")
    return ClientConfig(
        base_url=url.rstrip("/"),
        api_key=key,
        timeout=timeout,
        max_retries=max_retries,
        max_retry_wait=max_retry_wait,
    )


# -- requests ---------------------------------------------------------------


@dataclass(frozen=True)
class ApiRequest(Generic[T]):
    method: str
    path: str
    parse: Callable[[Any, Headers], T]
    json: Mapping[str, Any] | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


def _task_path(task_id: str) -> str:
    if not task_id or "/" in task_id or task_id in (".", ".."):
        raise SongforgeError(f"not a task id: {task_id!r}", type="invalid_request")
    return f"/api/v1/tasks/{task_id}"


def _is_replayed(headers: Headers) -> bool:
    return headers.get("idempotent-replayed", "").lower() == "true"


def create_music_request(
    model: str,
    prompt: str,
    *,
    lyrics: str | None = None,
    bitrate: int | None = None,
    sample_rate: int | None = None,
    seed: int | None = None,
    duration: float | None = None,
    idempotency_key: str | None = None,
    format: str | None = None,
    stems: bool | None = None,
    instrumental: bool | None = None,
    lyrics_timing: bool | None = None,
) -> ApiRequest[CreatedTask]:
    # Only the fields the caller gave are sent, so the server's defaults apply
    # and an idempotent replay compares the same body every time.
    body: dict[str, Any] = {"model": model, "prompt": prompt}
    optional: dict[str, Any] = {
        "lyrics": lyrics,
        "bitrate": bitrate,
        "sample_rate": sample_rate,
        "seed": seed,
        "duration": duration,
        "format": format,
        "stems": stems,
        "instrumental": instrumental,
        "lyrics_timing": lyrics_timing,
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
    return ApiRequest(
        method="POST",
        path="/api/v1/audio/music",
        json=body,
        headers=headers,
        parse=lambda data, h: CreatedTask.from_json(data, replayed=_is_replayed(h)),
    )


def get_task_request(task_id: str) -> ApiRequest[Task]:
    return ApiRequest("GET", _task_path(task_id), parse=lambda data, _h: Task.from_json(data))


def cancel_task_request(task_id: str) -> ApiRequest[Task]:
    return ApiRequest(
        "POST", _task_path(task_id) + "/cancel", parse=lambda data, _h: Task.from_json(data)
    )


def list_tasks_request(
    *, status: str | None = None, limit: int | None = None, cursor: str | None = None
) -> ApiRequest[TaskPage]:
    params: dict[str, str] = {}
    if status is not None:
        params["status"] = status
    if limit is not None:
        params["limit"] = str(limit)
    if cursor is not None:
        params["cursor"] = cursor
    return ApiRequest(
        "GET", "/api/v1/tasks", params=params, parse=lambda data, _h: TaskPage.from_json(data)
    )


def list_models_request() -> ApiRequest[list[Model]]:
    return ApiRequest("GET", "/api/v1/models", parse=lambda data, _h: parse_models(data))


def get_account_request() -> ApiRequest[Account]:
    return ApiRequest("GET", "/api/v1/account", parse=lambda data, _h: Account.from_json(data))


# -- responses --------------------------------------------------------------


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def request_id_of(headers: Headers) -> str | None:
    """The X-Request-Id, even when a proxy or middleware sent the header twice.

    httpx joins repeated headers with ", "; request ids never contain a comma.
    """
    value = headers.get(REQUEST_ID_HEADER)
    if not value:
        return None
    return value.split(",")[0].strip() or None


def error_from_response(status: int, headers: Headers, body: bytes) -> SongforgeError:
    """The SongforgeError for a non-2xx answer, in or out of the contract's envelope."""
    request_id = request_id_of(headers)
    retry_after = parse_retry_after(headers.get("retry-after"))
    payload: Any = None
    with contextlib.suppress(ValueError):
        payload = json.loads(body) if body else None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        message = error.get("message")
        type_ = error.get("type")
        param = error.get("param")
        return SongforgeError(
            message if isinstance(message, str) else f"HTTP {status}",
            status=status,
            type=type_ if isinstance(type_, str) else "http_error",
            param=param if isinstance(param, str) else None,
            request_id=request_id,
            retry_after=retry_after,
        )
    # Not our envelope: a proxy's HTML page, a bare text body. Keep it short.
    text = body.decode("utf-8", "replace").strip()[:200] or f"HTTP {status}"
    return SongforgeError(
        text, status=status, type="http_error", request_id=request_id, retry_after=retry_after
    )


def parse_response(request: ApiRequest[T], status: int, headers: Headers, body: bytes) -> T:
    """The typed value of a 2xx answer's ``data``, or raise its SongforgeError.

    ``headers`` must look names up case-insensitively (httpx.Headers does).
    """
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body)
    request_id = request_id_of(headers)
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise SongforgeError(
            f"answer is not JSON: {exc}",
            status=status,
            type="invalid_response",
            request_id=request_id,
        ) from exc
    if not isinstance(payload, dict) or "data" not in payload:
        raise SongforgeError(
            "answer has no 'data' field",
            status=status,
            type="invalid_response",
            request_id=request_id,
        )
    try:
        return request.parse(payload["data"], headers)
    except SongforgeError as exc:
        exc.status = status
        exc.request_id = request_id
        raise


def retry_delay(error: SongforgeError, attempt: int, config: ClientConfig) -> float | None:
    """Seconds to sleep before retrying after ``error``, or None to raise it.

    Only 429 is retried: the contract guarantees a rate-limited request did
    nothing, so even a create without an Idempotency-Key is safe to send again.
    ``attempt`` counts retries already made.
    """
    if error.status != 429 or attempt >= config.max_retries:
        return None
    # A 429 without Retry-After still deserves a pause; back off exponentially.
    delay = error.retry_after if error.retry_after is not None else min(2.0**attempt, 8.0)
    if delay > config.max_retry_wait:
        return None
    return delay


def task_id_of(task: str | Task | CreatedTask) -> str:
    return task if isinstance(task, str) else task.task_id


def transport_error(exc: Exception) -> SongforgeError:
    kind = "timeout" if "Timeout" in type(exc).__name__ else "connection_error"
    return SongforgeError(f"{type(exc).__name__}: {exc}".rstrip(": "), type=kind)


# -- wait -------------------------------------------------------------------


class WaitClock:
    """Decides how long ``wait`` sleeps between polls and when it gives up."""

    def __init__(self, poll_interval: float, timeout: float | None, now: float) -> None:
        if poll_interval <= 0:
            raise SongforgeError("poll_interval must be positive", type="configuration_error")
        self.poll_interval = poll_interval
        self.deadline = None if timeout is None else now + timeout
        self.timeout = timeout

    def next_sleep(self, task: Task, now: float) -> float:
        """Seconds to sleep before the next poll; raises once the deadline passed."""
        if self.deadline is None:
            return self.poll_interval
        left = self.deadline - now
        if left <= 0:
            raise SongforgeError(
                f"task {task.task_id} still {task.status} ({task.stage or 'unknown stage'}) "
                f"after {self.timeout:g} s",
                type="timeout",
            )
        return min(self.poll_interval, left)


# -- download ---------------------------------------------------------------


@dataclass(frozen=True)
class DownloadResult:
    path: Path
    size_bytes: int
    sha256: str
    # True when the task gave a sha256 and the file matched it.
    verified: bool


@dataclass(frozen=True)
class DownloadPlan:
    url: str
    # Sent only when the link is on the API's own origin: a signed link may
    # point at object storage, which must never see the API key.
    headers: Mapping[str, str]
    expected_sha256: str | None


def plan_download(source: Task | str, config: ClientConfig) -> DownloadPlan:
    if isinstance(source, Task):
        if source.output is None:
            raise SongforgeError(
                f"task {source.task_id} has no output (status {source.status})",
                type="invalid_request",
            )
        url, expected = source.output.audio_url, source.output.sha256
    else:
        url, expected = source, None
    absolute = urljoin(config.base_url + "/", url)
    same_origin = urlsplit(absolute)[:2] == urlsplit(config.base_url)[:2]
    headers = {"User-Agent": USER_AGENT}
    if same_origin:
        headers["Authorization"] = f"Bearer {config.api_key}"
    return DownloadPlan(url=absolute, headers=headers, expected_sha256=expected)


class DownloadSink:
    """Writes a download to a temp file beside ``path``, then renames it into place.

    The rename is atomic on one filesystem, so ``path`` is either the old file
    or the complete new one, never a partial song.
    """

    def __init__(self, path: str | os.PathLike[str], expected_sha256: str | None) -> None:
        self.path = Path(path)
        self.expected = expected_sha256.lower() if expected_sha256 else None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Not tempfile.mkstemp: its 0600 would stay on the song after the rename.
        # 0666 less the umask is what any other download tool (curl -o) leaves.
        self.tmp = self.path.parent / f".{self.path.name}.{secrets.token_hex(6)}.part"
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        self._file: IO[bytes] = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self._size += len(chunk)

    def finish(self) -> DownloadResult:
        self._file.close()
        digest = self._hash.hexdigest()
        if self.expected is not None and digest != self.expected:
            self.tmp.unlink(missing_ok=True)
            raise SongforgeError(
                f"downloaded file's sha256 {digest} does not match the task's {self.expected}",
                type="checksum_mismatch",
            )
        os.replace(self.tmp, self.path)
        return DownloadResult(
            path=self.path,
            size_bytes=self._size,
            sha256=digest,
            verified=self.expected is not None,
        )

    def abort(self) -> None:
        self._file.close()
        self.tmp.unlink(missing_ok=True)
