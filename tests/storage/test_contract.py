"""The storage contract, run against every backend: a local directory and an S3
bucket on a real S3-protocol server (moto's, on loopback)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from songforge.storage.base import Storage
from songforge.storage.local import LocalStorage
from songforge.storage.s3 import S3Location, S3Options, S3Storage
from tests.s3_server import S3Server


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "audio")
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = request.getfixturevalue("s3_bucket")
    return S3Storage(S3Location(bucket, "songs/v1"), S3Options(endpoint_url=server.endpoint))


def test_saved_bytes_read_back(storage: Storage) -> None:
    data = os.urandom(70_000)
    storage.save("tsk_a/attempt-1.mp3", data)
    assert storage.exists("tsk_a/attempt-1.mp3")
    assert storage.read("tsk_a/attempt-1.mp3") == data


def test_save_replaces_an_existing_object(storage: Storage) -> None:
    storage.save("tsk_a/attempt-1.mp3", b"first")
    storage.save("tsk_a/attempt-1.mp3", b"second")
    assert storage.read("tsk_a/attempt-1.mp3") == b"second"


def test_missing_objects(storage: Storage) -> None:
    assert not storage.exists("tsk_none/attempt-1.mp3")
    with pytest.raises(FileNotFoundError):
        storage.read("tsk_none/attempt-1.mp3")
    with pytest.raises(FileNotFoundError):
        storage.stream("tsk_none/attempt-1.mp3")
    storage.delete("tsk_none/attempt-1.mp3")  # deleting nothing is fine


def test_delete(storage: Storage) -> None:
    storage.save("tsk_a/attempt-1.mp3", b"x")
    storage.delete("tsk_a/attempt-1.mp3")
    assert not storage.exists("tsk_a/attempt-1.mp3")


def test_delete_prefix_takes_one_task_and_nothing_else(storage: Storage) -> None:
    for key in ("tsk_a/attempt-1.mp3", "tsk_a/attempt-2.mp3", "tsk_a/attempt-2.mp3.svg"):
        storage.save(key, b"x")
    storage.save("tsk_ab/attempt-1.mp3", b"y")
    assert storage.delete_prefix("tsk_a/") == 3
    assert not storage.exists("tsk_a/attempt-2.mp3")
    assert storage.read("tsk_ab/attempt-1.mp3") == b"y"
    assert storage.delete_prefix("tsk_a/") == 0


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../outside.mp3", "a/../../b.mp3"])
def test_keys_cannot_escape(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.save(key, b"x")


def test_stream_yields_the_whole_object(storage: Storage) -> None:
    data = os.urandom(600_000)
    storage.save("tsk_a/attempt-1.mp3", data)
    stream = storage.stream("tsk_a/attempt-1.mp3")
    assert stream.length == len(data)
    assert b"".join(stream.chunks) == data


def test_presigned_url_is_fetchable_without_credentials(storage: Storage) -> None:
    data = os.urandom(10_000)
    storage.save("tsk_a/attempt-1.mp3", data)
    url = storage.presigned_url("tsk_a/attempt-1.mp3", 60, "tsk_a.mp3")
    if isinstance(storage, LocalStorage):
        assert url is None  # the API streams local files itself
        return
    assert url is not None
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "audio/mpeg"
    assert response.headers["content-disposition"] == 'inline; filename="tsk_a.mp3"'
