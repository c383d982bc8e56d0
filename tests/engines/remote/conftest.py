"""Fixtures: the fake upstreams running on loopback, and engines pointed at them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from songforge.engines.remote.ace_step_server import AceStepServerEngine
from songforge.engines.remote.minimax_cloud import MiniMaxCloudEngine
from songforge.engines.remote.sglang_omni import SGLangOmniEngine
from tests.fakes_upstreams.ace_step import FakeAceStep
from tests.fakes_upstreams.common import serving
from tests.fakes_upstreams.minimax import FakeMiniMax
from tests.fakes_upstreams.sglang_omni import FakeSGLangOmni

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


SGLANG_KEY_ENV = "SONGFORGE_TEST_SGLANG_KEY"
ACE_KEY_ENV = "SONGFORGE_TEST_ACE_KEY"


@pytest.fixture
def fake_sglang(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSGLangOmni]:
    fake = FakeSGLangOmni(api_key="gateway-test-key")
    monkeypatch.setenv(SGLANG_KEY_ENV, "gateway-test-key")
    with serving(fake.app()) as url:
        fake.url = url
        yield fake


@pytest.fixture
def fake_ace(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAceStep]:
    fake = FakeAceStep(api_key="ace-test-key")
    monkeypatch.setenv(ACE_KEY_ENV, "ace-test-key")
    with serving(fake.app()) as url:
        fake.url = url
        yield fake


def relay_options(url: str, key_env: str, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": url,
        "api_key_env": key_env,
        "timeout_s": 5,
        "deadline_s": 20,
        "max_concurrency": 8,
        "probe_interval_s": 0.5,
    }
    options.update(overrides)
    return options


def sglang_engine(fake: FakeSGLangOmni, **overrides: Any) -> SGLangOmniEngine:
    return SGLangOmniEngine(relay_options(fake.url, SGLANG_KEY_ENV, **overrides))


def ace_engine(fake: FakeAceStep, **overrides: Any) -> AceStepServerEngine:
    return AceStepServerEngine(
        relay_options(fake.url, ACE_KEY_ENV, poll_interval_s=0.1, **overrides)
    )
