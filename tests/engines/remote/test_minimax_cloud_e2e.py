"""minimax-music on the minimax-cloud engine, through the real service, against the
fake MiniMax on loopback: every fault ends in a clear final state, credits exact."""

from __future__ import annotations

from typing import Any

import pytest

from songforge.audio.mp3_frames import read_mp3_info
from songforge.services.billing import ledger_for_task
from tests.api.test_create import SEED_BODY, balance
from tests.engines.remote.conftest import minimax_engine
from tests.fakes_upstreams.minimax import FakeMiniMax


def run_one(server: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    with server.client() as client:
        response = client.post("/api/v1/audio/music", json=body or SEED_BODY)
        assert response.status_code == 200, response.text
        task_id = response.json()["data"]["task_id"]
    return server.wait_for(task_id)  # type: ignore[no-any-return]


def assert_refunded(server: Any, task: dict[str, Any]) -> None:
    assert task["status"] == "failed"
    assert task["credits"]["charged"] == 0 and task["credits"]["held"] == 0
    assert balance(server, server.account_id) == (1000, 0)
    with server.db.read() as conn:
        assert [e.kind for e in ledger_for_task(conn, task["task_id"])] == ["hold", "release"]


def test_song_is_relayed_stored_and_charged_once(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    task = run_one(server)
    assert task["status"] == "completed", task
    output = task["output"]
    assert output["engine"] == "minimax-cloud/music-2.6"
    assert output["sample_rate"] == 44100 and output["bitrate"] == 256000
    # Our own signed link, never the upstream's.
    assert (
        output["audio_url"].startswith(server.url) and fake_minimax.url not in output["audio_url"]
    )
    with server.client() as client:
        audio = client.get(output["audio_url"]).content
    info = read_mp3_info(audio)
    assert info.sample_rate == 44100 and info.bitrates_kbps == {256}
    assert balance(server, server.account_id) == (1000 - 30, 0)
    sent = fake_minimax.bodies[-1]
    assert sent["model"] == "music-2.6" and sent["prompt"] == SEED_BODY["prompt"]
    assert sent["audio_setting"] == {"sample_rate": 44100, "bitrate": 256000, "format": "mp3"}
    assert fake_minimax.authorizations[-1] == f"Bearer {fake_minimax.api_key}"


@pytest.mark.parametrize(
    ("bitrate", "sample_rate", "asked_bitrate", "kbps", "mode"),
    [
        (60000, 44100, 256000, None, "abr"),  # not a MiniMax bitrate: re-encoded
        (256000, 16000, 128000, 160, "cbr"),  # over MPEG-2's ceiling: re-encoded at 160
        (64000, 24000, 64000, 64, "cbr"),  # MiniMax makes it: kept as is
    ],
)
def test_output_is_exactly_what_was_asked(
    server_factory: Any,
    fake_minimax: FakeMiniMax,
    bitrate: int,
    sample_rate: int,
    asked_bitrate: int,
    kbps: int | None,
    mode: str,
) -> None:
    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    task = run_one(server, {**SEED_BODY, "bitrate": bitrate, "sample_rate": sample_rate})
    assert task["status"] == "completed", task
    assert fake_minimax.bodies[-1]["audio_setting"]["bitrate"] == asked_bitrate
    output = task["output"]
    assert output["sample_rate"] == sample_rate and output["bitrate_mode"] == mode
    with server.client() as client:
        info = read_mp3_info(client.get(output["audio_url"]).content)
    assert info.sample_rate == sample_rate
    if kbps is not None:
        assert info.bitrates_kbps == {kbps}


@pytest.mark.parametrize(
    "fault",
    [
        "wrong_rate",
        "http500",
        "http429",
        "malformed",
        "not_audio",
        "reset",
        "expired_url",
        "code:1000",
        "slow:1",
    ],
)
def test_recoverable_faults_end_in_a_delivered_song(
    server_factory: Any, fake_minimax: FakeMiniMax, fault: str
) -> None:
    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    fake_minimax.generation.push(fault)
    task = run_one(server)
    assert task["status"] == "completed", task
    assert task["credits"]["charged"] == 30
    assert balance(server, server.account_id) == (1000 - 30, 0)
    with server.client() as client:
        assert read_mp3_info(client.get(task["output"]["audio_url"]).content).sample_rate == 44100


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("code:1026", "content_policy"),
        ("code:2013", "invalid_request"),
        ("code:1004", "upstream_auth"),
        ("code:1008", "upstream_unavailable"),
    ],
)
def test_final_refusals_fail_at_once_with_a_full_refund(
    server_factory: Any, fake_minimax: FakeMiniMax, fault: str, error_type: str
) -> None:
    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    fake_minimax.generation.push(fault)
    task = run_one(server)
    assert task["error"]["type"] == error_type, task
    assert fake_minimax.api_key not in task["error"]["message"]
    assert len(fake_minimax.bodies) == 1  # no retry of a final answer
    assert_refunded(server, task)


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ("http500", "upstream_unavailable"),
        ("http429", "upstream_rate_limited"),
        ("timeout", "upstream_unavailable"),
    ],
)
def test_persistent_faults_give_up_within_the_deadline(
    server_factory: Any, fake_minimax: FakeMiniMax, fault: str, error_type: str
) -> None:
    engine = minimax_engine(fake_minimax, max_retries=2, timeout_s=1, deadline_s=12)
    server = server_factory(engines={"minimax-music": engine})
    fake_minimax.generation.always = fault
    task = run_one(server)
    assert task["error"]["type"] == error_type, task
    assert len(fake_minimax.bodies) == 3  # the first call and two retries
    assert_refunded(server, task)


@pytest.mark.parametrize("fault", ["ok", "not_audio", "reset", "wrong_rate"])
def test_hex_output_faults_end_in_a_delivered_song(
    server_factory: Any, fake_minimax: FakeMiniMax, fault: str
) -> None:
    engine = minimax_engine(fake_minimax, output_format="hex")
    server = server_factory(engines={"minimax-music": engine})
    fake_minimax.generation.push(fault)
    task = run_one(server)
    assert task["status"] == "completed", task
    assert fake_minimax.bodies[-1]["output_format"] == "hex"
    assert balance(server, server.account_id) == (1000 - 30, 0)
    with server.client() as client:
        assert read_mp3_info(client.get(task["output"]["audio_url"]).content).sample_rate == 44100


def test_instrumental_is_minimaxs_is_instrumental(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    """Issue 14: lyrics given but an instrumental asked: MiniMax gets is_instrumental, no lyrics."""
    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    task = run_one(server, {**SEED_BODY, "instrumental": True})
    assert task["status"] == "completed", task
    assert task["input"]["instrumental"] is True
    sent = fake_minimax.bodies[-1]
    assert sent["is_instrumental"] is True and "lyrics" not in sent


def test_a_lossless_song_is_made_from_minimaxs_wav(
    server_factory: Any, fake_minimax: FakeMiniMax
) -> None:
    """Issue 14: format flac asks MiniMax for a WAV at the rate (never an MP3 made lossless)."""
    import io

    import soundfile

    server = server_factory(engines={"minimax-music": minimax_engine(fake_minimax)})
    body = {k: v for k, v in SEED_BODY.items() if k != "bitrate"}
    task = run_one(server, {**body, "format": "flac", "sample_rate": 24000})
    assert task["status"] == "completed", task
    assert fake_minimax.bodies[-1]["audio_setting"]["format"] == "wav"
    assert fake_minimax.bodies[-1]["audio_setting"]["sample_rate"] == 24000
    output = task["output"]
    assert (output["format"], output["bit_depth"], output["sample_rate"]) == ("flac", 16, 24000)
    with server.client() as client:
        data = client.get(output["audio_url"]).content
    info = soundfile.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 24000)
