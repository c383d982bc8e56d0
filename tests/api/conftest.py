"""The contract suite runs twice: with minimax-music on a local engine (a fast tone
engine) and on the minimax-cloud remote engine, relaying to the fake MiniMax."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from songforge.engines.base import Engine
from songforge.engines.remote.minimax_cloud import MiniMaxCloudEngine
from tests.conftest import LiveServer
from tests.fakes import ToneEngine
from tests.fakes_upstreams.common import serving
from tests.fakes_upstreams.minimax import FakeMiniMax

KEY_ENV = "SONGFORGE_TEST_CONTRACT_MINIMAX_KEY"


@pytest.fixture(params=["local", "minimax-cloud"])
def contract_engine(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """The engine serving minimax-music in the contract suite."""
    if request.param == "local":
        yield ToneEngine()
        return
    fake = FakeMiniMax()
    monkeypatch.setenv(KEY_ENV, fake.api_key)
    with serving(fake.app()) as url:
        fake.url = url
        yield MiniMaxCloudEngine(
            {
                "base_url": url,
                "api_key_env": KEY_ENV,
                "upstream_model": "music-2.6",
                "timeout_s": 10,
            }
        )


@pytest.fixture
def live_server(server_factory: Any, database_url: str, contract_engine: Engine) -> LiveServer:
    """The service over real HTTP, on SQLite and on PostgreSQL, on both engines."""
    return server_factory(database_url, engines={"minimax-music": contract_engine})  # type: ignore[no-any-return]


@pytest.fixture
def sqlite_server(server_factory: Any, contract_engine: Engine) -> LiveServer:
    """The service over real HTTP on SQLite, on both engines."""
    return server_factory(engines={"minimax-music": contract_engine})  # type: ignore[no-any-return]
