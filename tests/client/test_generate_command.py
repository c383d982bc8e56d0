"""`songforge generate`: the real command as a subprocess, and its exit codes."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from songforge.client import Task
from songforge.client.generate_command import main, read_lyrics, summarize
from songforge.client.protocol import DownloadResult
from tests.conftest import LiveServer
from tests.fakes import FailingEngine

SONGFORGE = Path(sys.executable).parent / "songforge"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SONGFORGE_")}


def test_generate_subprocess_makes_the_file(sqlite_server: LiveServer, tmp_path: Path) -> None:
    out = tmp_path / "songs" / "mine.mp3"
    done = subprocess.run(
        [
            str(SONGFORGE),
            "generate",
            "--url",
            sqlite_server.url,
            "--api-key",
            sqlite_server.api_key,
            "--prompt",
            "warm synth pop",
            "--lyrics-file",
            "-",
            "--bitrate",
            "64000",
            "--sample-rate",
            "24000",
            "--seed",
            "5",
            "-o",
            str(out),
        ],
        input="[Verse]\nneon rain\n[Chorus]\noh oh",
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == str(out)
    assert "64 kbps CBR" in done.stdout and "24000 Hz" in done.stdout
    assert "verified" in done.stdout and "engine test-tone/1" in done.stdout
    # stderr is a pipe here: progress comes as whole lines, never redrawn with \r.
    assert "\r" not in done.stderr and "100% | done" in done.stderr
    task_id = lines[-1].split("task ")[-1]
    expected = sqlite_server.wait_for(task_id)["output"]["sha256"]
    assert hashlib.sha256(out.read_bytes()).hexdigest() == expected


def test_quiet_prints_only_the_path(
    sqlite_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "q.mp3"
    code = main(
        [
            "generate",
            "--url",
            sqlite_server.url,
            "--api-key",
            sqlite_server.api_key,
            "--prompt",
            "ambient",
            "--quiet",
            "-o",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0 and captured.out == f"{out}\n" and captured.err == ""
    assert out.stat().st_size > 0


def test_a_failed_task_exits_1(
    server_factory: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server: LiveServer = server_factory(  # type: ignore[operator]
        engines={"minimax-music": FailingEngine()}
    )
    code = main(
        [
            "generate",
            "--url",
            server.url,
            "--api-key",
            server.api_key,
            "--prompt",
            "x",
            "-o",
            str(tmp_path / "never.mp3"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "failed: generation_error: the fake engine always fails" in err
    assert not (tmp_path / "never.mp3").exists()


def test_api_errors_exit_2(
    sqlite_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "generate",
            "--url",
            sqlite_server.url,
            "--api-key",
            sqlite_server.api_key,
            "--prompt",
            "x",
            "--bitrate",
            "12345",
            "-o",
            str(tmp_path / "x.mp3"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "400 invalid_request" in err and "bitrate" in err and "req_" in err


def test_an_unwritable_output_exits_2(
    sqlite_server: LiveServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code = main(
        [
            "generate",
            "--url",
            sqlite_server.url,
            "--api-key",
            sqlite_server.api_key,
            "--prompt",
            "x",
            "-q",
            "-o",
            str(blocker / "song.mp3"),
        ]
    )
    assert code == 2 and "cannot write" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as no_prompt:
        main(["generate"])
    with pytest.raises(SystemExit) as both_lyrics:
        main(["generate", "--prompt", "x", "--lyrics", "a", "--lyrics-file", "b"])
    assert no_prompt.value.code == 2 and both_lyrics.value.code == 2
    assert "--prompt" in capsys.readouterr().err


def test_missing_key_and_unreadable_lyrics_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SONGFORGE_API_KEY", raising=False)
    assert main(["generate", "--prompt", "x"]) == 2
    missing = capsys.readouterr().err
    # The command's own options, not the Python client's argument name.
    assert "no API key: pass --api-key or set SONGFORGE_API_KEY" in missing
    assert "api_key=" not in missing
    assert main(["generate", "--prompt", "x", "--lyrics-file", str(tmp_path / "none")]) == 2
    assert "cannot read lyrics" in capsys.readouterr().err


def test_lyrics_sources(tmp_path: Path) -> None:
    import argparse

    path = tmp_path / "lyrics.txt"
    path.write_text("[Verse]\nhello", encoding="utf-8")
    stdin = io.StringIO("[Chorus]\nfrom stdin")

    def ns(lyrics: str | None = None, lyrics_file: str | None = None) -> argparse.Namespace:
        return argparse.Namespace(lyrics=lyrics, lyrics_file=lyrics_file)

    assert read_lyrics(ns(), stdin) is None
    assert read_lyrics(ns(lyrics="la"), stdin) == "la"
    assert read_lyrics(ns(lyrics_file=str(path)), stdin) == "[Verse]\nhello"
    assert read_lyrics(ns(lyrics_file="-"), stdin) == "[Chorus]\nfrom stdin"


def test_summary_lines() -> None:
    task = Task.from_json(
        {
            "task_id": "task_9",
            "status": "completed",
            "output": {
                "audio_url": "/a",
                "duration_seconds": 83.4,
                "bitrate": 160000,
                "bitrate_mode": "cbr",
                "sample_rate": 16000,
                "channels": 2,
                "engine": "composer",
            },
        }
    )
    result = DownloadResult(
        path=Path("s.mp3"), size_bytes=2_000_000, sha256="ab" * 32, verified=True
    )
    assert summarize(task, result) == [
        "  duration 1:23 (83.4 s), 160 kbps CBR, 16000 Hz, stereo",
        f"  size 1.9 MiB, sha256 {'ab' * 32} verified",
        "  engine composer, task task_9",
    ]


def test_on_a_terminal_progress_is_redrawn_in_place(server_factory: object, tmp_path: Path) -> None:
    import pty

    from tests.fakes import ToneEngine

    server: LiveServer = server_factory(  # type: ignore[operator]
        engines={"minimax-music": ToneEngine(delay=1.2)}
    )
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [
                str(SONGFORGE),
                "generate",
                "--url",
                server.url,
                "--api-key",
                server.api_key,
                "--prompt",
                "tty",
                "-o",
                str(tmp_path / "tty.mp3"),
            ],
            stderr=follower,
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=clean_env(),
            timeout=60,
            check=False,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other side is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    err = b"".join(chunks).decode()
    assert done.returncode == 0, err
    progress = err.split("submitted", 1)[1]
    # Several states drawn over one another on a single line, ended once.
    assert progress.count("\r") >= 2 and progress.strip("\r\n").count("\n") == 0
    assert "100% | done" in progress
