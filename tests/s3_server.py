"""A real S3-protocol server on loopback for the tests: moto's standalone server,
started as its own process once per test session, one fresh bucket per test."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

# Code that finds no credentials would ask the cloud's instance-metadata address
# next: never let a test leave loopback that way.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

# moto accepts any credentials; these are what the tests and their subprocesses use.
S3_ENV = {
    "AWS_ACCESS_KEY_ID": "songforge-test",
    "AWS_SECRET_ACCESS_KEY": "songforge-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class S3Server:
    endpoint: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=S3_ENV["AWS_DEFAULT_REGION"],
        )

    def new_bucket(self) -> str:
        name = f"songforge-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name


def start_s3_server(port: int, log: Path) -> S3Server:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            return S3Server(endpoint=endpoint, process=process)
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("moto server did not start")


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    from tests.conftest import free_port

    server = start_s3_server(free_port(), tmp_path_factory.mktemp("s3") / "moto.log")
    yield server
    server.process.terminate()
    server.process.wait(10)


@pytest.fixture
def s3_bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, with the AWS credential variables set for code under test."""
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    return s3_server.new_bucket()
