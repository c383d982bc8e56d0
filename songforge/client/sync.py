"""The blocking client. Its twin is ``songforge.client.aio``; both only do I/O
around the shared request/response functions of ``songforge.client.protocol``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

import httpx

from songforge.client.errors import SongforgeError
from songforge.client.models import Account, CreatedTask, Model, Task, TaskPage
from songforge.client.protocol import (
    USER_AGENT,
    ApiRequest,
    DownloadResult,
    DownloadSink,
    WaitClock,
    cancel_task_request,
    create_music_request,
    error_from_response,
    get_account_request,
    get_task_request,
    list_models_request,
    list_tasks_request,
    parse_response,
    plan_download,
    resolve_config,
    retry_delay,
    task_id_of,
    transport_error,
)

T = TypeVar("T")


class Client:
    """``Client(base_url=None, api_key=None)``: arguments, else ``SONGFORGE_URL`` and
    ``SONGFORGE_API_KEY``. Use it as a context manager or call ``close()``."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        max_retry_wait: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = resolve_config(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_wait=max_retry_wait,
        )
        # The key is added per request, not here, so a download from another
        # origin (object storage) never carries it.
        self._http = httpx.Client(
            base_url=self.config.base_url,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, request: ApiRequest[T]) -> T:
        headers = {**self.config.headers(), **request.headers}
        body = dict(request.json) if request.json is not None else None
        retries = 0
        while True:
            try:
                response = self._http.request(
                    request.method,
                    request.path,
                    json=body,
                    params=request.params,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                raise transport_error(exc) from exc
            try:
                return parse_response(
                    request, response.status_code, response.headers, response.content
                )
            except SongforgeError as exc:
                delay = retry_delay(exc, retries, self.config)
                if delay is None:
                    raise
            retries += 1
            time.sleep(delay)

    def create_music(
        self,
        model: str,
        prompt: str,
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
    ) -> CreatedTask:
        """Queue a song. ``format`` ("mp3", "wav", "flac"), ``stems``, ``instrumental``
        and ``lyrics_timing`` are the issue-14 extensions; only what is given is sent."""
        return self._send(
            create_music_request(
                model,
                prompt,
                lyrics=lyrics,
                bitrate=bitrate,
                sample_rate=sample_rate,
                seed=seed,
                duration=duration,
                idempotency_key=idempotency_key,
                format=format,
                stems=stems,
                instrumental=instrumental,
                lyrics_timing=lyrics_timing,
            )
        )

    def get_task(self, task: str | Task | CreatedTask) -> Task:
        return self._send(get_task_request(task_id_of(task)))

    def list_tasks(
        self, status: str | None = None, limit: int | None = None, cursor: str | None = None
    ) -> TaskPage:
        return self._send(list_tasks_request(status=status, limit=limit, cursor=cursor))

    def cancel_task(self, task: str | Task | CreatedTask) -> Task:
        return self._send(cancel_task_request(task_id_of(task)))

    def list_models(self) -> list[Model]:
        return self._send(list_models_request())

    def get_account(self) -> Account:
        return self._send(get_account_request())

    def wait(
        self,
        task: str | Task | CreatedTask,
        poll_interval: float = 1.0,
        timeout: float | None = 900.0,
        on_update: Callable[[Task], object] | None = None,
    ) -> Task:
        """Poll until the task is ``completed`` or ``failed`` and return it.

        ``on_update`` sees every polled state, the final one included. Raises
        SongforgeError(type="timeout") after ``timeout`` seconds (None: no limit);
        the task itself keeps running on the server.
        """
        task_id = task_id_of(task)
        clock = WaitClock(poll_interval, timeout, time.monotonic())
        while True:
            current = self.get_task(task_id)
            if on_update is not None:
                on_update(current)
            if current.is_final:
                return current
            time.sleep(clock.next_sleep(current, time.monotonic()))

    def download(self, source: Task | str, path: str | os.PathLike[str]) -> DownloadResult:
        """Stream a completed task's audio (or an ``audio_url``) to ``path``.

        Given a Task, the file's sha256 is checked against ``output.sha256``.
        """
        plan = plan_download(source, self.config)
        sink = DownloadSink(path, plan.expected_sha256)
        try:
            with self._http.stream(
                "GET", plan.url, headers=plan.headers, follow_redirects=True
            ) as response:
                if not 200 <= response.status_code < 300:
                    raise error_from_response(
                        response.status_code, response.headers, response.read()
                    )
                for chunk in response.iter_bytes():
                    sink.write(chunk)
        except httpx.TransportError as exc:
            sink.abort()
            raise transport_error(exc) from exc
        except BaseException:
            sink.abort()
            raise
        return sink.finish()
