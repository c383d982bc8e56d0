"""A song MiniMax sends as hex is twice its size in JSON; decoding it (json.loads,
bytes.fromhex) keeps the GIL for tens of milliseconds, so big answers are decoded
through the engine's ``offload`` (the relay worker's audio processes), small ones
on the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from songforge.audio.output_format import mp3_format
from songforge.engines.base import GenerationRequest
from songforge.engines.remote.base import RelayRequest
from songforge.engines.remote.errors import UpstreamError
from songforge.engines.remote.minimax_cloud import (
    OFFLOAD_ANSWER_BYTES,
    MiniMaxCloudEngine,
    load_answer,
)
from songforge.worker.relay_audio import AudioPool
from tests.engines.remote.conftest import minimax_engine
from tests.fakes_upstreams.minimax import FakeMiniMax

REQUEST = RelayRequest(
    song=GenerationRequest(prompt="pop", lyrics="la la"), output=mp3_format(128000, 44100)
)


def relay_once(engine: MiniMaxCloudEngine) -> tuple[bytes, list[Callable[..., Any]]]:
    """One upstream call; the functions the engine offloaded."""
    offloaded: list[Callable[..., Any]] = []

    async def recording(function: Callable[..., Any], *args: Any) -> Any:
        offloaded.append(function)
        return await asyncio.to_thread(function, *args)

    async def call() -> bytes:
        engine.offload = recording
        try:
            return (await engine.call_upstream(REQUEST, lambda _d, _f: None)).data
        finally:
            await engine.aclose()

    return asyncio.run(call()), offloaded


def test_a_big_hex_answer_is_decoded_off_the_loop(fake_minimax: FakeMiniMax) -> None:
    fake_minimax.song_seconds = 12  # ~190 kB of MP3 at 128 kbps: ~380 kB of hex
    data, offloaded = relay_once(minimax_engine(fake_minimax, output_format="hex"))
    assert len(data) * 2 > OFFLOAD_ANSWER_BYTES
    assert offloaded == [load_answer]
    assert data[:3] == b"ID3" or data[0] == 0xFF  # the MP3 itself, decoded


def test_a_small_answer_is_decoded_on_the_loop(fake_minimax: FakeMiniMax) -> None:
    data, offloaded = relay_once(minimax_engine(fake_minimax, output_format="hex"))
    assert offloaded == [] and len(data) > 1000


@pytest.mark.parametrize("fault", ["malformed", "code:1026"])
def test_faults_read_the_same_either_way(fake_minimax: FakeMiniMax, fault: str) -> None:
    fake_minimax.generation.push(fault)
    with pytest.raises(UpstreamError) as caught:
        relay_once(minimax_engine(fake_minimax, output_format="hex"))
    expected = "upstream_unavailable" if fault == "malformed" else "content_policy"
    assert caught.value.kind == expected


def test_load_answer_runs_in_the_audio_processes() -> None:
    """What the relay worker offloads to must take load_answer and its data."""
    pool = AudioPool(workers=1)

    async def decode() -> Any:
        return await pool.run(load_answer, b'{"data": {"audio": "494433"}}', True)

    try:
        assert asyncio.run(decode()) == {"data": {"audio": b"ID3"}}
    finally:
        pool.shutdown()
    assert load_answer(b'{"data": {"audio": "not hex"}}', True) == {"data": {"audio": "not hex"}}
    with pytest.raises(ValueError, match="malformed JSON"):
        load_answer(b'{"data": ', True)
