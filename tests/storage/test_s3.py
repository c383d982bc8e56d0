"""What only the S3 backend does: prefixes, multipart uploads, byte ranges,
presigning for a public endpoint, and being chosen by SONGFORGE_STORAGE_URL."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from songforge.settings import Settings
from songforge.storage.base import RangeNotSatisfiable
from songforge.storage.factory import build_storage
from songforge.storage.local import LocalStorage
from songforge.storage.s3 import MIN_PART_BYTES, S3Location, S3Options, S3Storage
from tests.s3_server import S3Server


def make(server: S3Server, bucket: str, prefix: str = "", **options: object) -> S3Storage:
    return S3Storage(
        S3Location(bucket, prefix),
        S3Options(endpoint_url=server.endpoint, **options),  # type: ignore[arg-type]
    )


def test_location_parsing() -> None:
    assert S3Location.parse("s3://bucket") == S3Location("bucket", "")
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b")
    for bad in ("http://bucket/x", "s3:///x", "s3://bucket/x?y=1"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)


def test_objects_live_under_the_prefix(s3_server: S3Server, s3_bucket: str) -> None:
    make(s3_server, s3_bucket, "prod/audio").save("tsk_a/attempt-1.mp3", b"x")
    listed = s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]
    assert [item["Key"] for item in listed] == ["prod/audio/tsk_a/attempt-1.mp3"]
    assert listed[0]["Size"] == 1
    # Another prefix in the same bucket sees nothing of it.
    assert not make(s3_server, s3_bucket, "staging").exists("tsk_a/attempt-1.mp3")


def test_large_files_go_up_in_parts(s3_server: S3Server, s3_bucket: str) -> None:
    storage = make(
        s3_server,
        s3_bucket,
        "p",
        multipart_threshold=MIN_PART_BYTES,
        multipart_chunk=MIN_PART_BYTES,
    )
    data = os.urandom(2 * MIN_PART_BYTES + 12345)
    storage.save("tsk_big/attempt-1.mp3", data)
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="p/tsk_big/attempt-1.mp3")
    # A multipart object's ETag is "<md5 of the parts' md5s>-<number of parts>".
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentType"] == "audio/mpeg"
    assert hashlib.sha256(storage.read("tsk_big/attempt-1.mp3")).digest() == (
        hashlib.sha256(data).digest()
    )
    assert s3_server.client().list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_small_files_go_up_in_one_put(s3_server: S3Server, s3_bucket: str) -> None:
    storage = make(s3_server, s3_bucket)
    storage.save("tsk_a/attempt-1.mp3", b"small")
    head = s3_server.client().head_object(Bucket=s3_bucket, Key="tsk_a/attempt-1.mp3")
    assert "-" not in head["ETag"]


def test_parts_below_the_s3_minimum_are_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        S3Storage(S3Location("b", ""), S3Options(multipart_chunk=1024))


def test_byte_ranges(s3_server: S3Server, s3_bucket: str) -> None:
    storage = make(s3_server, s3_bucket)
    data = os.urandom(1000)
    storage.save("tsk_a/attempt-1.mp3", data)
    stream = storage.stream("tsk_a/attempt-1.mp3", "bytes=100-199")
    assert (stream.length, stream.content_range) == (100, "bytes 100-199/1000")
    assert b"".join(stream.chunks) == data[100:200]
    tail = storage.stream("tsk_a/attempt-1.mp3", "bytes=-10")
    assert b"".join(tail.chunks) == data[-10:]
    with pytest.raises(RangeNotSatisfiable):
        storage.stream("tsk_a/attempt-1.mp3", "bytes=5000-")


def test_presigned_urls_use_the_public_endpoint(s3_server: S3Server, s3_bucket: str) -> None:
    # The service talks to the server by one name, clients reach it by another.
    public = s3_server.endpoint.replace("127.0.0.1", "localhost")
    storage = make(s3_server, s3_bucket, addressing_style="path", public_endpoint_url=public)
    storage.save("tsk_a/attempt-1.mp3", b"abc")
    url = storage.presigned_url("tsk_a/attempt-1.mp3", 60, "tsk_a.mp3")
    assert url is not None and urlsplit(url).netloc == urlsplit(public).netloc
    assert httpx.get(url).content == b"abc"


def test_storage_url_selects_the_backend(
    s3_server: S3Server, s3_bucket: str, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        storage_url=f"s3://{s3_bucket}/songs",
        s3_endpoint_url=s3_server.endpoint,
    )
    storage = build_storage(settings)
    assert isinstance(storage, S3Storage)
    assert storage.location == S3Location(s3_bucket, "songs")
    storage.save("tsk_a/attempt-1.mp3", b"abc")
    assert s3_server.client().get_object(Bucket=s3_bucket, Key="songs/tsk_a/attempt-1.mp3")

    local = build_storage(Settings(data_dir=tmp_path, storage_url=f"file://{tmp_path}/files"))
    assert isinstance(local, LocalStorage) and local.root == tmp_path / "files"
    assert isinstance(build_storage(Settings(data_dir=tmp_path)), LocalStorage)
    with pytest.raises(ValueError, match="SONGFORGE_STORAGE_URL"):
        build_storage(Settings(data_dir=tmp_path, storage_url="ftp://x/y"))


def test_unreachable_server_is_an_error_not_a_silent_loss(s3_bucket: str) -> None:
    from tests.conftest import free_port

    storage = S3Storage(
        S3Location("bucket", ""),
        S3Options(endpoint_url=f"http://127.0.0.1:{free_port()}"),
    )
    with pytest.raises(Exception, match="Could not connect"):
        storage.exists("tsk_a/attempt-1.mp3")
