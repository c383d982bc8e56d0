"""PostgreSQL and Redis servers that a test starts on its own ports, stops, restarts
and removes: outage tests never touch the machine's shared servers."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI, free_port
from tests.redis_server import RedisServer

PG_BIN = Path(os.environ.get("SONGFORGE_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _as_postgres_user() -> list[str]:
    # initdb and postgres refuse to run as root; on a root shell run them as "postgres".
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root without runuser: cannot start a private PostgreSQL")
    return [runuser, "-u", "postgres", "--"]


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is required under CI")
    pytest.skip(f"{what} not installed")


@dataclass
class OwnPostgres:
    data_dir: Path
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*_as_postgres_user(), str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.log), "-w", "start")

    def stop(self) -> None:
        # "immediate": the server vanishes as in a crash or a network cut.
        self._ctl("-m", "immediate", "-w", "stop")


@contextmanager
def own_postgres() -> Iterator[OwnPostgres]:
    if not (PG_BIN / "initdb").exists():
        _missing(f"PostgreSQL server binaries ({PG_BIN})")
    # Not under pytest's tmp_path: as root, the "postgres" user cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="songforge-own-pg-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data_dir = root / "data"
    subprocess.run(
        [
            *_as_postgres_user(),
            str(PG_BIN / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server = OwnPostgres(data_dir=data_dir, port=free_port(), log=root / "server.log")
    server.start()
    try:
        yield server
    finally:
        with suppress(subprocess.CalledProcessError):
            server.stop()  # unless the test left it stopped
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def own_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        _missing("redis-server")
    with tempfile.TemporaryDirectory(prefix="songforge-redis-") as workdir:
        server = RedisServer(free_port(), Path(workdir))
        server.start()
        try:
            yield server
        finally:
            server.stop()
