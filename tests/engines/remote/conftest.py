"""Fixtures: the fake upstreams running on loopback, and engines pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from songforge.engines.remote.minimax_cloud import MiniMaxCloudEngine
from tests.fakes_upstreams.common import serving
from tests.fakes_upstreams.minimax import FakeMiniMax

MINIMAX_KEY_ENV = "SONGFORGE_TEST_MINIMAX_KEY"


@pytest.fixture
def fake_minimax(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMiniMax]:
    fake = FakeMiniMax()
    monkeypatch.setenv(MINIMAX_KEY_ENV, fake.api_key)
    with serving(fake.app()) as url:
        fake.url = url
        yield fake


def minimax_options(fake: FakeMiniMax, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": fake.url,
        "api_key_env": MINIMAX_KEY_ENV,
        "upstream_model": "music-2.6",
        "timeout_s": 5,
        "deadline_s": 20,
        "max_concurrency": 8,
        "probe_interval_s": 0.5,
    }
    options.update(overrides)
    return options


def minimax_engine(fake: FakeMiniMax, **overrides: Any) -> MiniMaxCloudEngine:
    return MiniMaxCloudEngine(minimax_options(fake, **overrides))
