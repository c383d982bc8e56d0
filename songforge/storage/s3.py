"""Audio in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, R2, ...), through boto3.

Credentials come the standard AWS way (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` /
``AWS_SESSION_TOKEN``, profiles, instance or pod roles): boto3 reads them itself, so no
secret passes through songforge's settings. A PUT, and the completion of a multipart
upload, are atomic on S3: readers see the whole object or none, as with local files.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from songforge.storage.base import ObjectStream, RangeNotSatisfiable
from songforge.storage.task_files import media_type_of

CHUNK_BYTES = 256 * 1024
# S3's smallest part (except the last) is 5 MiB.
MIN_PART_BYTES = 5 * 1024 * 1024
# delete_objects takes at most 1000 keys a call.
DELETE_BATCH = 1000
_MISSING = {"404", "NoSuchKey", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """``s3://bucket`` or ``s3://bucket/some/prefix``."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
        if parts.query or parts.fragment:
            raise ValueError(f"an s3:// storage URL takes no query or fragment: {url!r}")
        return cls(bucket=parts.netloc, prefix=parts.path.strip("/"))


@dataclass(frozen=True)
class S3Options:
    endpoint_url: str | None = None
    # Where clients fetch presigned URLs from, when it differs from the endpoint the
    # service uses (an internal hostname, say); presigning needs no network.
    public_endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str = "auto"
    multipart_threshold: int = 8 * 1024 * 1024
    multipart_chunk: int = 8 * 1024 * 1024
    max_connections: int = 20


def _client(options: S3Options, endpoint_url: str | None) -> Any:
    config = Config(
        region_name=options.region or None,
        signature_version="s3v4",
        s3={"addressing_style": options.addressing_style},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=30,
        max_pool_connections=options.max_connections,
        # Newer boto3 adds CRC checksums to every PUT by default; many S3-compatible
        # servers reject or ignore them. Send them only where the API requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)


def _is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code", "")) in _MISSING


class S3Storage:
    def __init__(self, location: S3Location, options: S3Options | None = None) -> None:
        self.location = location
        self.options = options or S3Options()
        if self.options.multipart_chunk < MIN_PART_BYTES:
            raise ValueError(f"S3 multipart parts must be at least {MIN_PART_BYTES} bytes")
        self._s3 = _client(self.options, self.options.endpoint_url)
        public = self.options.public_endpoint_url
        self._presigner = _client(self.options, public) if public else self._s3
        self._transfer = TransferConfig(
            multipart_threshold=self.options.multipart_threshold,
            multipart_chunksize=self.options.multipart_chunk,
            max_concurrency=4,
        )

    def _object_key(self, key: str) -> str:
        # Keys are made by the worker, but keep them inside the prefix all the same.
        if not key or key.startswith("/") or ".." in PurePosixPath(key).parts:
            raise ValueError(f"bad storage key {key!r}")
        prefix = self.location.prefix
        return f"{prefix}/{key}" if prefix else key

    def save(self, key: str, data: bytes) -> None:
        content_type = media_type_of(key)
        # upload_fileobj switches to a multipart upload above the threshold (parts sent
        # in parallel, retried one by one, aborted on failure: no half object appears).
        self._s3.upload_fileobj(
            io.BytesIO(data),
            self.location.bucket,
            self._object_key(key),
            ExtraArgs={"ContentType": content_type},
            Config=self._transfer,
        )

    def read(self, key: str) -> bytes:
        try:
            response = self._s3.get_object(Bucket=self.location.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        body: bytes = response["Body"].read()
        return body

    def exists(self, key: str) -> bool:
        try:
            self._s3.head_object(Bucket=self.location.bucket, Key=self._object_key(key))
        except ClientError as exc:
            if _is_missing(exc):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        # Deleting a missing key succeeds on S3, as unlink(missing_ok=True) does here.
        self._s3.delete_object(Bucket=self.location.bucket, Key=self._object_key(key))

    def delete_prefix(self, prefix: str) -> int:
        full = self._object_key(prefix)
        paginator = self._s3.get_paginator("list_objects_v2")
        count = 0
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=full):
            keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            for start in range(0, len(keys), DELETE_BATCH):
                batch = keys[start : start + DELETE_BATCH]
                result = self._s3.delete_objects(
                    Bucket=self.location.bucket, Delete={"Objects": batch, "Quiet": True}
                )
                errors = result.get("Errors", [])
                if errors:
                    raise RuntimeError(f"S3 refused to delete {len(errors)} objects: {errors[0]}")
                count += len(batch)
        return count

    def local_path(self, key: str) -> Path | None:
        return None

    def stream(self, key: str, byte_range: str | None = None) -> ObjectStream:
        params: dict[str, Any] = {"Bucket": self.location.bucket, "Key": self._object_key(key)}
        if byte_range:
            params["Range"] = byte_range
        try:
            response = self._s3.get_object(**params)
        except ClientError as exc:
            if _is_missing(exc):
                raise FileNotFoundError(key) from exc
            if exc.response.get("Error", {}).get("Code") == "InvalidRange":
                size = exc.response.get("Error", {}).get("ActualObjectSize")
                raise RangeNotSatisfiable(int(size) if size else None) from exc
            raise
        body = response["Body"]

        def chunks() -> Iterator[bytes]:
            try:
                yield from body.iter_chunks(CHUNK_BYTES)
            finally:
                body.close()

        return ObjectStream(
            chunks=chunks(),
            length=int(response["ContentLength"]),
            content_range=response.get("ContentRange") if byte_range else None,
        )

    def presigned_url(self, key: str, expires_in: int, filename: str) -> str | None:
        url: str = self._presigner.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.location.bucket,
                "Key": self._object_key(key),
                "ResponseContentDisposition": f'inline; filename="{filename}"',
                "ResponseContentType": media_type_of(key),
            },
            ExpiresIn=expires_in,
        )
        return url
