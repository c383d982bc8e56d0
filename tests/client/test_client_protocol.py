"""The request building, response parsing and retry rules both clients share."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from songforge.client import SongforgeError, Task
from songforge.client.protocol import (
    ClientConfig,
    DownloadSink,
    WaitClock,
    create_music_request,
    get_task_request,
    list_tasks_request,
    parse_response,
    parse_retry_after,
    plan_download,
    resolve_config,
    retry_delay,
)

CONFIG = ClientConfig(
    base_url="http://127.0.0.1:8000",
    api_key="aio_test",
    timeout=5.0,
    max_retries=2,
    max_retry_wait=10.0,
)


def headers(**values: str) -> httpx.Headers:
    return httpx.Headers({k.replace("_", "-"): v for k, v in values.items()})


def test_create_sends_only_the_fields_given() -> None:
    request = create_music_request("minimax-music", "lo-fi", seed=0)
    assert request.method == "POST" and request.path == "/api/v1/audio/music"
    # seed=0 is a value, not "absent".
    assert request.json == {"model": "minimax-music", "prompt": "lo-fi", "seed": 0}
    assert dict(request.headers) == {}


def test_create_with_every_option_and_an_idempotency_key() -> None:
    request = create_music_request(
        "m",
        "p",
        lyrics="[Verse]\nla",
        bitrate=60000,
        sample_rate=24000,
        seed=3,
        duration=30.0,
        idempotency_key="order-17",
    )
    assert request.json == {
        "model": "m",
        "prompt": "p",
        "lyrics": "[Verse]\nla",
        "bitrate": 60000,
        "sample_rate": 24000,
        "seed": 3,
        "duration": 30.0,
    }
    assert request.headers == {"Idempotency-Key": "order-17"}


def test_created_answer_reports_an_idempotent_replay() -> None:
    request = create_music_request("m", "p", idempotency_key="k")
    body = json.dumps(
        {"code": 200, "message": "success", "data": {"task_id": "t", "status": "IN_PROGRESS"}}
    ).encode()
    created = parse_response(request, 200, headers(idempotent_replayed="true"), body)
    assert created.task_id == "t" and created.replayed
    assert not parse_response(request, 200, headers(), body).replayed


def test_list_tasks_query() -> None:
    assert list_tasks_request().params == {}
    request = list_tasks_request(status="completed", limit=5, cursor="abc")
    assert request.params == {"status": "completed", "limit": "5", "cursor": "abc"}


@pytest.mark.parametrize("bad", ["", "a/b", "..", "."])
def test_task_ids_cannot_escape_the_tasks_route(bad: str) -> None:
    with pytest.raises(SongforgeError):
        get_task_request(bad)


def test_error_envelope_becomes_a_songforge_error() -> None:
    body = json.dumps(
        {
            "error": {
                "code": 400,
                "message": "bad bitrate",
                "type": "invalid_request",
                "param": "bitrate",
            }
        }
    ).encode()
    with pytest.raises(SongforgeError) as info:
        parse_response(get_task_request("t"), 400, headers(x_request_id="req_1"), body)
    error = info.value
    assert (error.status, error.type, error.message, error.param, error.request_id) == (
        400,
        "invalid_request",
        "bad bitrate",
        "bitrate",
        "req_1",
    )
    assert "req_1" in str(error) and "bitrate" in str(error)


def test_a_repeated_request_id_header_is_read_once() -> None:
    repeated = httpx.Headers([("x-request-id", "req_7"), ("x-request-id", "req_7")])
    body = b'{"error":{"code":404,"message":"nope","type":"not_found"}}'
    with pytest.raises(SongforgeError) as info:
        parse_response(get_task_request("t"), 404, repeated, body)
    assert info.value.request_id == "req_7"


def test_rate_limit_error_carries_retry_after() -> None:
    body = b'{"error":{"code":429,"message":"slow down","type":"rate_limit"}}'
    with pytest.raises(SongforgeError) as info:
        parse_response(get_task_request("t"), 429, headers(retry_after="3"), body)
    assert info.value.type == "rate_limit" and info.value.retry_after == 3.0


def test_a_non_envelope_error_page_is_still_a_songforge_error() -> None:
    with pytest.raises(SongforgeError) as info:
        parse_response(get_task_request("t"), 502, headers(), b"<html>Bad gateway</html>")
    assert info.value.status == 502 and info.value.type == "http_error"
    assert "Bad gateway" in info.value.message


@pytest.mark.parametrize("body", [b"not json", b'{"code":200}', b"[1]"])
def test_a_success_without_data_is_an_invalid_response(body: bytes) -> None:
    with pytest.raises(SongforgeError) as info:
        parse_response(get_task_request("t"), 200, headers(x_request_id="r"), body)
    assert info.value.type == "invalid_response" and info.value.request_id == "r"


def test_parse_errors_inside_data_keep_status_and_request_id() -> None:
    body = b'{"code":200,"message":"success","data":{"status":"completed"}}'
    with pytest.raises(SongforgeError) as info:
        parse_response(get_task_request("t"), 200, headers(x_request_id="r9"), body)
    assert (info.value.status, info.value.request_id) == (200, "r9")


def test_retry_after_as_seconds_or_http_date() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    delay = parse_retry_after(later)
    assert delay is not None and 25 < delay <= 30


def test_only_rate_limits_are_retried_and_only_so_often() -> None:
    limited = SongforgeError("x", status=429, type="rate_limit", retry_after=1.5)
    assert retry_delay(limited, 0, CONFIG) == 1.5
    assert retry_delay(limited, 2, CONFIG) is None
    too_long = SongforgeError("x", status=429, type="rate_limit", retry_after=60)
    assert retry_delay(too_long, 0, CONFIG) is None
    no_header = SongforgeError("x", status=429, type="rate_limit")
    assert retry_delay(no_header, 1, CONFIG) == 2.0
    assert retry_delay(SongforgeError("x", status=503, type="model_unavailable"), 0, CONFIG) is None


def test_config_arguments_win_over_the_environment() -> None:
    env = {"SONGFORGE_URL": "http://env:1/", "SONGFORGE_API_KEY": "aio_env"}
    from_env = resolve_config(None, None, environ=env)
    assert (from_env.base_url, from_env.api_key) == ("http://env:1", "aio_env")
    given = resolve_config("http://arg:2", "aio_arg", environ=env)
    assert (given.base_url, given.api_key) == ("http://arg:2", "aio_arg")
    assert resolve_config(None, "k", environ={}).base_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("url", "key"), [("http://h", None), ("ftp://h", "k"), ("127.0.0.1:8000", "k")]
)
def test_config_errors(url: str, key: str | None) -> None:
    with pytest.raises(SongforgeError) as info:
        resolve_config(url, key, environ={})
    assert info.value.type == "configuration_error"


def completed(audio_url: str, sha: str | None = None) -> Task:
    return Task.from_json(
        {"task_id": "t", "status": "completed", "output": {"audio_url": audio_url, "sha256": sha}}
    )


def test_download_sends_the_key_only_to_the_api_origin() -> None:
    local = plan_download(completed("/files/a.mp3?sig=1", "AB"), CONFIG)
    assert local.url == "http://127.0.0.1:8000/files/a.mp3?sig=1"
    assert local.headers["Authorization"] == "Bearer aio_test"
    assert local.expected_sha256 == "AB"
    remote = plan_download("https://bucket.example/a.mp3?X-Sig=1", CONFIG)
    assert "Authorization" not in remote.headers and remote.expected_sha256 is None


def test_download_of_an_unfinished_task_is_refused() -> None:
    with pytest.raises(SongforgeError):
        plan_download(Task.from_json({"task_id": "t", "status": "IN_PROGRESS"}), CONFIG)


def test_download_sink_renames_into_place_when_the_hash_matches(tmp_path: Path) -> None:
    import hashlib

    target = tmp_path / "out" / "song.mp3"
    sink = DownloadSink(target, hashlib.sha256(b"abcdef").hexdigest().upper())
    sink.write(b"abc")
    sink.write(b"def")
    result = sink.finish()
    assert target.read_bytes() == b"abcdef"
    assert result.verified and result.size_bytes == 6
    assert list(target.parent.iterdir()) == [target]


def test_a_downloaded_song_gets_the_umask_mode_not_a_temp_files(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        sink = DownloadSink(tmp_path / "song.mp3", None)
        sink.write(b"abc")
        result = sink.finish()
    finally:
        os.umask(old)
    # As curl -o leaves it: readable by others, unlike tempfile.mkstemp's 0600.
    assert result.path.stat().st_mode & 0o777 == 0o644


def test_download_sink_keeps_the_old_file_on_a_mismatch(tmp_path: Path) -> None:
    target = tmp_path / "song.mp3"
    target.write_bytes(b"old song")
    sink = DownloadSink(target, "0" * 64)
    sink.write(b"corrupted")
    with pytest.raises(SongforgeError) as info:
        sink.finish()
    assert info.value.type == "checksum_mismatch"
    assert target.read_bytes() == b"old song"
    assert list(tmp_path.iterdir()) == [target]


def test_wait_clock_never_sleeps_past_the_deadline() -> None:
    task = Task.from_json({"task_id": "t", "status": "IN_PROGRESS", "stage": "queued"})
    clock = WaitClock(poll_interval=1.0, timeout=2.5, now=100.0)
    assert clock.next_sleep(task, 100.0) == 1.0
    assert clock.next_sleep(task, 102.0) == 0.5
    with pytest.raises(SongforgeError) as info:
        clock.next_sleep(task, 102.5)
    assert info.value.type == "timeout" and "queued" in info.value.message
    assert WaitClock(1.0, None, 0.0).next_sleep(task, 1e9) == 1.0
