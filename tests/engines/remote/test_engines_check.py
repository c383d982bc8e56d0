"""``songforge engines check`` against the fake MiniMax: answers, key accepted or refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.engines.remote.conftest import MINIMAX_KEY_ENV
from tests.fakes_upstreams.minimax import FakeMiniMax

ROOT = Path(__file__).resolve().parents[3]


def run_check(
    tmp_path: Path, fake: FakeMiniMax, key: str, base_url: str
) -> subprocess.CompletedProcess[str]:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[models.minimax-music]\nengine = "minimax-cloud"\nprice = 30\n'
        f'options = {{ base_url = "{base_url}", api_key_env = "{MINIMAX_KEY_ENV}" }}\n'
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SONGFORGE_CATALOG_PATH": str(catalog),
        MINIMAX_KEY_ENV: key,
    }
    return subprocess.run(
        [sys.executable, "-m", "songforge.cli", "engines", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_engines_check_reports_upstream_and_key(tmp_path: Path, fake_minimax: FakeMiniMax) -> None:
    good = run_check(tmp_path, fake_minimax, fake_minimax.api_key, fake_minimax.url)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "minimax-music\tminimax-cloud\tok\tkey accepted" in good.stdout

    wrong = run_check(tmp_path, fake_minimax, "sk-wrong-key", fake_minimax.url)
    assert wrong.returncode == 1
    assert "FAIL\tKEY REFUSED" in wrong.stdout
    assert "sk-wrong-key" not in wrong.stdout + wrong.stderr

    fake_minimax.down = True
    down = run_check(tmp_path, fake_minimax, fake_minimax.api_key, fake_minimax.url)
    assert down.returncode == 1 and "HTTP 503" in down.stdout

    nowhere = run_check(tmp_path, fake_minimax, fake_minimax.api_key, "http://127.0.0.1:9")
    assert nowhere.returncode == 1 and "no answer from http://127.0.0.1:9" in nowhere.stdout
