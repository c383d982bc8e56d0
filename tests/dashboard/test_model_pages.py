"""Model pages: only live models, generated from the catalog; the documented examples run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from html import unescape
from pathlib import Path

import pytest

from songforge.dashboard.model_docs import build_model_docs
from songforge.errors import ERROR_TYPES
from songforge.services.music_request import parse_music_request
from tests.conftest import LiveServer
from tests.dashboard.webclient import WebClient


def _code(html: str, element_id: str) -> str:
    match = re.search(rf'<code id="{element_id}">(.*?)</code>', html, re.S)
    assert match, element_id
    return unescape(match.group(1))


def test_models_index_lists_only_live_models(web: Callable[[], WebClient]) -> None:
    page = web().get("/models")
    assert page.status_code == 200
    assert 'href="/models/minimax-music"' in page.text
    assert "ace-step-1.5" not in page.text


def test_model_page_has_every_section(
    dash_server: LiveServer, web: Callable[[], WebClient]
) -> None:
    response = web().get("/models/minimax-music")
    assert response.status_code == 200
    html = response.text
    for heading in (
        "Quick start",
        "Parameters",
        "Example request and response",
        "Task status",
        "Errors",
        "API tester",
    ):
        assert f">{heading}</h2>" in html, heading
    assert 'data-testid="price">30 credits per song' in html
    params = html.split('data-testid="parameters"')[1].split("</table>")[0]
    for field in ("model", "prompt", "lyrics", "bitrate", "sample_rate", "seed", "duration"):
        assert f'<td class="mono">{field}</td>' in params
    assert "32000, 60000, 64000, 128000, 256000" in params
    assert "16000, 24000, 32000, 44100" in params
    assert "<td>256000</td>" in params and "<td>44100</td>" in params
    errors = html.split('data-testid="errors"')[1]
    for type_ in ERROR_TYPES:
        assert f'<td class="mono">{type_}</td>' in errors
    assert "IN_PROGRESS" in html and "completed" in html and "failed" in html
    # Signed out: the tester offers sign-in and comes back to it.
    assert 'href="/signin?next=/models/minimax-music%23tester"' in html
    assert 'id="tester-form"' not in html


def test_signed_in_page_has_the_tester_form(user: WebClient) -> None:
    html = user.get("/models/minimax-music").text
    assert 'id="tester-form"' in html and 'data-model="minimax-music"' in html
    for field in ("t-prompt", "t-lyrics", "t-bitrate", "t-sample-rate"):
        assert f'<label for="{field}"' in html


def test_unlive_and_unknown_models_have_no_page(web: Callable[[], WebClient]) -> None:
    client = web()
    for model in ("ace-step-1.5", "nope"):
        response = client.get(f"/models/{model}")
        assert response.status_code == 404
        assert "Model not available" in response.text
        assert '<a href="/models">See the models</a>' in response.text


def test_example_request_is_valid_and_matches_the_page(
    dash_server: LiveServer, web: Callable[[], WebClient]
) -> None:
    html = web().get("/models/minimax-music").text
    shown = re.search(r'data-testid="example-request">(.*?)</code>', html, re.S)
    assert shown
    body = json.loads(unescape(shown.group(1)))
    parsed = parse_music_request(body)
    assert parsed.model == "minimax-music" and parsed.output.bitrate == 256000
    curl = _code(html, "curl-example")
    assert f"curl -X POST {dash_server.url}/api/v1/audio/music" in curl
    assert json.loads(curl.split("-d '")[1].rstrip("'")) == body


def test_attribution_is_shown_when_the_catalog_has_one(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[models.minimax-music]\nengine = "composer"\nprice = 45\nname = "Tuned Music"\n'
        'description = "A tuned model."\nattribution = "Built with Example Weights (CC-BY)."\n'
    )
    server = server_factory(catalog_path=catalog)
    with WebClient(server.url) as client:
        html = client.get("/models/minimax-music").text
    assert 'data-testid="attribution">Built with Example Weights (CC-BY).' in html
    assert 'data-testid="price">45 credits per song' in html
    assert "Tuned Music" in html


def test_documented_python_example_runs(dash_server: LiveServer, tmp_path: Path) -> None:
    with WebClient(dash_server.url) as client:
        html = client.get("/models/minimax-music").text
    script = _code(html, "python-example")
    # Speed up the poll; the rest runs exactly as a reader would copy it.
    (tmp_path / "quickstart.py").write_text(script.replace("time.sleep(2)", "time.sleep(0.1)"))
    env = {**os.environ, "SONGFORGE_API_KEY": dash_server.api_key}
    result = subprocess.run(
        [sys.executable, "quickstart.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    song = (tmp_path / "song.mp3").read_bytes()
    assert len(song) > 1000


def test_docs_builder_uses_the_catalog_price() -> None:
    from songforge.catalog import BUILTIN

    spec = BUILTIN.get("ace-step-1.5")
    assert spec is not None
    docs = build_model_docs(spec, "https://music.example/")
    assert docs.base_url == "https://music.example"
    assert '"charged": 20' in docs.example_task_response
    assert '"refunded": 20' in docs.example_failed_response


def test_documented_curl_examples_run(dash_server: LiveServer) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    with WebClient(dash_server.url) as client:
        html = client.get("/models/minimax-music").text
    env = {**os.environ, "SONGFORGE_API_KEY": dash_server.api_key}
    created = subprocess.run(
        ["bash", "-c", _code(html, "curl-example")],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert created.returncode == 0, created.stderr
    envelope = json.loads(created.stdout)
    assert envelope["data"]["status"] == "IN_PROGRESS"
    task_id = envelope["data"]["task_id"]
    dash_server.wait_for(task_id)
    poll = _code(html, "poll-example").replace("TASK_ID", task_id)
    polled = subprocess.run(
        ["bash", "-c", poll], env=env, capture_output=True, text=True, timeout=30
    )
    assert json.loads(polled.stdout)["data"]["status"] == "completed"
