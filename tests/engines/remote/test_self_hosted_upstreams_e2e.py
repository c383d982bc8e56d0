"""sglang-omni and ace-step-server through the real service against their fakes:
songs delivered in the requested format, every fault ends in a clear final state
with exact credits."""

from __future__ import annotations

from typing import Any

import pytest

from songforge.audio.mp3_frames import read_mp3_info
from tests.api.test_create import SEED_BODY, balance
from tests.engines.remote.conftest import ace_engine, sglang_engine
from tests.engines.remote.test_minimax_cloud_e2e import assert_refunded, run_one
from tests.fakes_upstreams.ace_step import FakeAceStep
from tests.fakes_upstreams.sglang_omni import FakeSGLangOmni

UPSTREAMS = ["sglang-omni", "ace-step-server"]


@pytest.fixture(params=UPSTREAMS)
def upstream(request: pytest.FixtureRequest) -> tuple[str, Any, Any]:
    """(family, fake, engine factory) for each self-hosted upstream."""
    if request.param == "sglang-omni":
        fake = request.getfixturevalue("fake_sglang")
        return request.param, fake, lambda **o: sglang_engine(fake, **o)
    fake = request.getfixturevalue("fake_ace")
    return request.param, fake, lambda **o: ace_engine(fake, **o)


def test_song_is_relayed_in_the_requested_format(server_factory: Any, upstream: Any) -> None:
    family, fake, make = upstream
    server = server_factory(engines={"minimax-music": make()})
    task = run_one(server, {**SEED_BODY, "bitrate": 64000, "sample_rate": 24000, "seed": 5})
    assert task["status"] == "completed", task
    output = task["output"]
    assert output["engine"].startswith(f"{family}/")
    assert output["sample_rate"] == 24000 and output["bitrate"] == 64000
    with server.client() as client:
        info = read_mp3_info(client.get(output["audio_url"]).content)
    assert info.sample_rate == 24000 and info.bitrates_kbps == {64}
    assert balance(server, server.account_id) == (1000 - 30, 0)
    sent = fake.bodies[-1]
    if family == "sglang-omni":
        assert output["attribution"] == "MiniMax-Music3"
        assert sent["instructions"] == SEED_BODY["prompt"] and sent["input"] == SEED_BODY["lyrics"]
        assert sent["seed"] == 5 and sent["stream"] is False and sent["response_format"] == "wav"
        assert sent["max_new_tokens"] == 7500
    else:
        assert sent["batch_size"] == 1 and sent["use_random_seed"] is False and sent["seed"] == 5
        assert sent["audio_format"] == "flac"


def test_duration_hint_caps_the_song(server_factory: Any, fake_sglang: FakeSGLangOmni) -> None:
    server = server_factory(engines={"minimax-music": sglang_engine(fake_sglang)})
    task = run_one(server, {**SEED_BODY, "duration": 30})
    assert task["status"] == "completed", task
    assert fake_sglang.bodies[-1]["max_new_tokens"] == 750


FAULTS = {
    "sglang-omni": ["wrong_rate", "http500", "http503", "not_audio", "reset", "slow:1"],
    "ace-step-server": [
        "wrong_rate",
        "http500",
        "http429",
        "malformed",
        "failed",
        "not_audio",
        "reset",
        "expired_url",
    ],
}


@pytest.mark.parametrize(
    ("family", "fault"), [(f, fault) for f in UPSTREAMS for fault in FAULTS[f]]
)
def test_recoverable_faults_end_in_a_delivered_song(
    server_factory: Any, request: pytest.FixtureRequest, family: str, fault: str
) -> None:
    if family == "sglang-omni":
        fake: Any = request.getfixturevalue("fake_sglang")
        engine: Any = sglang_engine(fake)
    else:
        fake = request.getfixturevalue("fake_ace")
        engine = ace_engine(fake)
    server = server_factory(engines={"minimax-music": engine})
    fake.generation.push(fault)
    task = run_one(server)
    assert task["status"] == "completed", task
    assert balance(server, server.account_id) == (1000 - 30, 0)


def test_persistent_outage_fails_with_a_refund(server_factory: Any, upstream: Any) -> None:
    _family, fake, make = upstream
    server = server_factory(
        engines={"minimax-music": make(max_retries=1, timeout_s=1, deadline_s=10)}
    )
    fake.generation.always = "timeout" if isinstance(fake, FakeSGLangOmni) else "http500"
    task = run_one(server)
    assert task["error"]["type"] == "upstream_unavailable", task
    assert_refunded(server, task)


def test_wrong_key_is_upstream_auth_and_offline(
    server_factory: Any, upstream: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _family, fake, make = upstream
    # Probes are rare here, so the task's own call is what meets the refusal.
    engine = make(probe_interval_s=60)
    server = server_factory(engines={"minimax-music": engine})
    fake.api_key = "rotated-key"  # the operator's key no longer works
    task = run_one(server)
    assert task["error"]["type"] == "upstream_auth", task
    assert "rotated-key" not in task["error"]["message"]
    assert_refunded(server, task)
    assert engine.breaker.is_open


def test_sglang_rejects_an_unknown_model_at_probe(
    server_factory: Any, fake_sglang: FakeSGLangOmni
) -> None:
    engine = sglang_engine(fake_sglang, upstream_model="MiniMaxAI/Other")
    server = server_factory(engines={"minimax-music": engine})
    with server.client() as client:
        response = client.post("/api/v1/audio/music", json=SEED_BODY)
    assert response.status_code == 503


def test_ace_without_key_configured_still_works_when_server_has_none(
    server_factory: Any, fake_ace: FakeAceStep
) -> None:
    fake_ace.api_key = None
    options = {"base_url": fake_ace.url, "poll_interval_s": 0.1}
    from songforge.engines.remote.ace_step_server import AceStepServerEngine

    server = server_factory(engines={"minimax-music": AceStepServerEngine(options)})
    assert run_one(server)["status"] == "completed"


def test_lossless_and_instrumental_are_relayed(server_factory: Any, upstream: Any) -> None:
    """Issue 14: a WAV/FLAC from the upstream's own lossless file, and an instrumental
    asked the way the model knows (its no-lyrics marker) although lyrics were given."""
    import io

    import soundfile

    from songforge.engines.ace_step import ace_lyrics
    from songforge.engines.minimax_music3 import m3_lyrics

    family, fake, make = upstream
    server = server_factory(engines={"minimax-music": make()})
    body = {"model": "minimax-music", "prompt": "calm", "lyrics": "[Verse]\nla la", "seed": 2}
    task = run_one(server, {**body, "format": "flac", "sample_rate": 16000, "instrumental": True})
    assert task["status"] == "completed", task
    assert task["output"]["format"] == "flac" and task["output"]["bit_depth"] == 16
    with server.client() as client:
        data = client.get(task["output"]["audio_url"]).content
    info = soundfile.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 16000)
    sent = fake.bodies[-1]
    if family == "sglang-omni":
        assert sent["input"] == m3_lyrics("")
    else:
        assert sent["lyrics"] == ace_lyrics("")
