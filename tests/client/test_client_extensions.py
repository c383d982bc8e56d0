"""Issue 14 from the client's side: typed extension outputs, and
`songforge generate --format flac --stems --lrc` saving every file."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import pytest
import soundfile

from songforge.client import AsyncClient, Client, Stems, TimedLyrics
from songforge.client.models import TaskOutput
from tests.api.test_output_extensions import CATALOG, extensions_server
from tests.client.test_generate_command import SONGFORGE, clean_env
from tests.conftest import LiveServer

LYRICS = "[Verse]\nHello bright world\nsing it again"


def base_command(server: LiveServer) -> list[str]:
    return [str(SONGFORGE), "generate", "--url", server.url, "--api-key", server.api_key]


@pytest.fixture
def server(server_factory: Any, tmp_path: Path) -> LiveServer:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(CATALOG)
    return extensions_server(server_factory, catalog)


def test_generate_saves_the_flac_its_stems_and_the_lrc(server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "songs" / "mine.flac"
    done = subprocess.run(
        [
            *base_command(server),
            "--prompt",
            "bright pop",
            "--lyrics",
            LYRICS,
            "--sample-rate",
            "24000",
            "--format",
            "flac",
            "--stems",
            "--lrc",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    vocals, band, lrc = (
        out.with_name("mine-vocals.flac"),
        out.with_name("mine-instrumental.flac"),
        out.with_name("mine.lrc"),
    )
    assert done.stdout.splitlines()[:4] == [str(out), str(vocals), str(band), str(lrc)]
    assert "FLAC 16-bit" in done.stdout and "24000 Hz" in done.stdout
    assert "timed lyrics, 2 lines" in done.stdout and "verified" in done.stdout
    for path in (out, vocals, band):
        info = soundfile.info(str(path))
        assert (info.format, info.subtype, info.samplerate, info.frames) == (
            "FLAC",
            "PCM_16",
            24000,
            48000,
        )
    text = lrc.read_text(encoding="utf-8")
    assert "<00:00.10>Hello <00:00.35>bright <00:00.60>world <00:00.80>" in text
    # The request carried exactly the extensions asked for.
    task_id = done.stdout.split("task ")[-1].split()[0]
    assert server.wait_for(task_id)["input"]["format"] == "flac"


def test_generate_without_the_new_flags_sends_the_plain_request(
    server: LiveServer, tmp_path: Path
) -> None:
    out = tmp_path / "plain.mp3"
    done = subprocess.run(
        [*base_command(server), "--prompt", "plain", "-q", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(out)]
    with server.client() as client:
        task = client.get("/api/v1/tasks").json()["data"]["items"][0]
    assert set(task["input"]) == {
        "model",
        "prompt",
        "lyrics",
        "bitrate",
        "sample_rate",
        "seed",
        "duration",
    }


def test_generate_refused_extension_exits_2_with_the_servers_reason(
    server: LiveServer, tmp_path: Path
) -> None:
    target = tmp_path / "x.mp3"
    done = subprocess.run(
        [*base_command(server), "--model", "plain", "--prompt", "x", "--stems", "-o", str(target)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 2
    assert "does not support 'stems'" in done.stderr
    assert not target.exists()


def test_the_clients_return_typed_extension_outputs(server: LiveServer, tmp_path: Path) -> None:
    with Client(base_url=server.url, api_key=server.api_key) as client:
        models = {m.id: m for m in client.list_models()}
        created = client.create_music(
            "minimax-music", "pop", lyrics=LYRICS, format="wav", stems=True, lyrics_timing=True
        )
        task = client.wait(created, poll_interval=0.05, timeout=30)
        assert task.output is not None and task.input is not None
        client.download(task.output.stems.vocals, tmp_path / "v.wav")  # type: ignore[union-attr,arg-type]
    assert models["minimax-music"].supports("stems") and not models["plain"].supports("stems")
    assert (models["minimax-music"].price_stems, models["minimax-music"].price_lossless) == (10, 5)
    assert (task.input.format, task.input.stems, task.input.lyrics_timing) == ("wav", True, True)
    out = task.output
    assert (out.format, out.bit_depth, out.bitrate) == ("wav", 16, None)
    assert isinstance(out.stems, Stems) and out.stems.instrumental and out.lrc_url
    assert isinstance(out.lyrics, TimedLyrics)
    first = out.lyrics.lines[0]
    assert (first.text, first.words[1].text, first.words[1].start) == (
        "Hello bright world",
        "bright",
        0.35,
    )
    assert out.lyrics.line_at(0.5) is first and out.lyrics.line_at(50.0) is None
    assert soundfile.info(str(tmp_path / "v.wav")).subtype == "PCM_16"

    async def run() -> Any:
        async with AsyncClient(base_url=server.url, api_key=server.api_key) as client:
            made = await client.create_music("minimax-music", "pop", instrumental=True)
            return await client.wait(made, poll_interval=0.05, timeout=30)

    done = asyncio.run(run())
    assert done.input.instrumental and done.output.lyrics is None and done.output.stems is None


def test_an_mp3_output_reads_as_before() -> None:
    out = TaskOutput.from_json(
        {"audio_url": "u", "format": "mp3", "bitrate": 256000, "bitrate_mode": "cbr"}
    )
    assert (out.bit_depth, out.lyrics, out.lrc_url, out.stems) == (None, None, None, None)
    broken = TaskOutput.from_json({"audio_url": "u", "lyrics": {"lines": "x"}, "stems": 3})
    assert broken.lyrics == TimedLyrics(()) and broken.stems is None
