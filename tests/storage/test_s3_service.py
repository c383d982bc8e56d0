"""The service on S3 storage, over real HTTP: a worker stores the song in the bucket,
the signed link serves it (proxied, with ranges, or redirected to a presigned URL),
and retention deletes it when its time is up."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from songforge.db.tables import tasks
from songforge.db.types import utcnow
from songforge.services.task_records import load_task
from songforge.storage.retention import sweep_expired_audio
from tests.api.test_tasks import create
from tests.conftest import LiveServer
from tests.s3_server import S3Server


@pytest.fixture
def s3_service(
    server_factory: Any, database_url: str, s3_server: S3Server, s3_bucket: str
) -> LiveServer:
    return server_factory(  # type: ignore[no-any-return]
        database_url,
        storage_url=f"s3://{s3_bucket}/audio",
        s3_endpoint_url=s3_server.endpoint,
    )


def finished_song(server: LiveServer) -> dict[str, Any]:
    done = server.wait_for(create(server))
    assert done["status"] == "completed", done
    return done  # type: ignore[no-any-return]


def test_song_is_stored_in_the_bucket_and_proxied(
    s3_service: LiveServer, s3_server: S3Server, s3_bucket: str
) -> None:
    done = finished_song(s3_service)
    key = f"audio/{done['task_id']}/attempt-1.mp3"
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == done["output"]["sha256"]
    assert not (s3_service.settings.data_dir / "audio").exists()  # nothing on local disk

    response = httpx.get(done["output"]["audio_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["content-length"] == str(len(stored))
    assert response.headers["accept-ranges"] == "bytes"
    assert response.content == stored

    part = httpx.get(done["output"]["audio_url"], headers={"Range": "bytes=10-19"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 10-19/{len(stored)}"
    assert part.content == stored[10:20]

    outside = httpx.get(done["output"]["audio_url"], headers={"Range": "bytes=99999999-"})
    assert outside.status_code == 416
    assert outside.json()["error"]["type"] == "invalid_request"
    assert outside.headers["content-range"] == f"bytes */{len(stored)}"


def test_redirect_mode_sends_clients_to_a_presigned_url(
    server_factory: Any, s3_server: S3Server, s3_bucket: str
) -> None:
    server = server_factory(
        storage_url=f"s3://{s3_bucket}/audio",
        s3_endpoint_url=s3_server.endpoint,
        audio_downloads="redirect",
        presigned_url_ttl_seconds=120,
    )
    done = finished_song(server)
    response = httpx.get(done["output"]["audio_url"])
    assert response.status_code == 307
    assert response.headers["cache-control"] == "no-store"
    location = response.headers["location"]
    assert location.startswith(f"{s3_server.endpoint}/{s3_bucket}/audio/{done['task_id']}/")
    assert "X-Amz-Expires=120" in location
    audio = httpx.get(location)
    assert hashlib.sha256(audio.content).hexdigest() == done["output"]["sha256"]
    # A bad signature still never reaches the bucket.
    forged = done["output"]["audio_url"].replace("sig=", "sig=0")
    assert httpx.get(forged).status_code == 404


def test_redirect_mode_on_local_storage_proxies(server_factory: Any) -> None:
    server = server_factory(audio_downloads="redirect")
    done = finished_song(server)
    response = httpx.get(done["output"]["audio_url"])
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == done["output"]["sha256"]


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_retention_deletes_old_audio_and_keeps_the_record(
    server_factory: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    overrides: dict[str, Any] = {}
    if backend == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        bucket = request.getfixturevalue("s3_bucket")
        overrides = {"storage_url": f"s3://{bucket}/a", "s3_endpoint_url": server.endpoint}
    live = server_factory(**overrides)
    old, recent = finished_song(live), finished_song(live)
    storage = live.context.storage
    # The dashboard's waveform picture sits beside the audio; it goes too.
    storage.save(f"{old['task_id']}/attempt-1.mp3.svg", b"<svg/>")
    with live.db.write() as conn:
        conn.execute(
            update(tasks)
            .where(tasks.c.id == old["task_id"])
            .values(finished_at=utcnow() - timedelta(days=31))
        )
    live.context.finished_tasks._entries.clear()  # polls of finished tasks are cached

    assert sweep_expired_audio(live.db, storage, timedelta(days=30)) == 1
    assert sweep_expired_audio(live.db, storage, timedelta(days=30)) == 0
    assert not storage.exists(f"{old['task_id']}/attempt-1.mp3")
    assert not storage.exists(f"{old['task_id']}/attempt-1.mp3.svg")
    assert storage.exists(f"{recent['task_id']}/attempt-1.mp3")

    with live.client() as client:
        view = client.get(f"/api/v1/tasks/{old['task_id']}").json()["data"]
    assert view["status"] == "completed" and view["credits"]["charged"] == 30
    assert view["output"]["audio_url"] is None and view["output"]["expires_at"] is None
    assert view["output"]["sha256"] == old["output"]["sha256"]
    gone = httpx.get(old["output"]["audio_url"])
    assert gone.status_code == 404
    assert "retention" in gone.json()["error"]["message"]
    assert httpx.get(recent["output"]["audio_url"]).status_code == 200
    with live.db.read() as conn:
        record = load_task(conn, old["task_id"])
    assert record is not None and record.storage_key is None


def test_the_sweeper_thread_sweeps_on_its_own(sqlite_server: LiveServer) -> None:
    from songforge.storage.retention import RetentionSweeper

    done = finished_song(sqlite_server)
    sweeper = RetentionSweeper(
        sqlite_server.db, sqlite_server.context.storage, timedelta(0), interval=0.1
    )
    sweeper.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with sqlite_server.db.read() as conn:
                record = load_task(conn, done["task_id"])
            if record is not None and record.storage_key is None:
                break
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert record is not None and record.storage_key is None
    assert not sqlite_server.context.storage.exists(f"{done['task_id']}/attempt-1.mp3")
