"""Every example in docs/client.md, run against a live server.

``console`` blocks run as one bash script (so ``export`` lines carry over), with
the documented URL and key swapped for the test server's; an output line shown
in the docs must match unless it contains "…" (sizes, hashes, ids differ per
run). ``python`` blocks run as they are, with the environment the console block
set up.
"""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LiveServer

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
DOC_URL = "http://127.0.0.1:8000"
DOC_KEY = "aio_your_key_here"


def blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text()) if lang == kind]


def test_every_block_is_runnable() -> None:
    kinds = {lang for lang, _ in FENCE.findall(DOC.read_text())}
    assert kinds == {"console", "python"}, "an example the tests below do not run"


def console_steps() -> list[tuple[str, list[str]]]:
    steps: list[tuple[str, list[str]]] = []
    for block in blocks("console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


@pytest.fixture
def doc_env(sqlite_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SONGFORGE_URL", sqlite_server.url)
    monkeypatch.setenv("SONGFORGE_API_KEY", sqlite_server.api_key)
    return tmp_path


def test_console_examples(sqlite_server: LiveServer, doc_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGFORGE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    exported: list[str] = []
    steps = console_steps()
    assert len(steps) >= 5
    for command, expected in steps:
        command = command.replace(DOC_URL, sqlite_server.url).replace(
            DOC_KEY, sqlite_server.api_key
        )
        if command.startswith("export "):
            exported.append(command)
            continue
        script = "set -euo pipefail\n" + "\n".join([*exported, command])
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=doc_env,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        actual = done.stdout.splitlines()
        assert len(actual) >= len(expected), (command, done.stdout)
        for want, got in zip(expected, actual, strict=False):
            if "…" not in want:
                assert got == want, (command, done.stdout)
    assert len(exported) == 2
    for name in ("neon.mp3", "shanty.mp3", "lofi.mp3"):
        assert (doc_env / name).stat().st_size > 0


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_examples(index: int, doc_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = doc_env / f"example_{index}.py"
    script.write_text(blocks("python")[index])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    if "bitrate=100000" in script.read_text():
        assert out.startswith("400 invalid_request bitrate req_")
    if "piano.mp3" in script.read_text():
        assert (doc_env / "piano.mp3").stat().st_size > 0 and "True" in out
