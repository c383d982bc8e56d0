"""Every documented request example is sent to a live server and must succeed, and
every error type of the contract is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from songforge.bootstrap import quickstart_text
from songforge.errors import ERROR_TYPES
from tests.conftest import LiveServer

ROOT = Path(__file__).resolve().parents[1]
CURL_BODY = re.compile(r"-d '(\{.*?\})'", re.DOTALL)


def documented_bodies() -> list[tuple[str, str]]:
    found = []
    for name in ("README.md", "docs/api.md", "docs/client.md", "docs/dashboard.md"):
        path = ROOT / name
        if path.exists():
            found += [(name, body) for body in CURL_BODY.findall(path.read_text())]
    return found


def test_docs_have_examples() -> None:
    assert len(documented_bodies()) >= 2


@pytest.mark.parametrize(("source", "body"), documented_bodies())
def test_documented_request_bodies_work(sqlite_server: LiveServer, source: str, body: str) -> None:
    with sqlite_server.client() as client:
        response = client.post("/api/v1/audio/music", json=json.loads(body))
    assert response.status_code == 200, f"{source}: {response.text}"
    assert sqlite_server.wait_for(response.json()["data"]["task_id"])["status"] == "completed"


def test_first_run_curl_is_valid(sqlite_server: LiveServer) -> None:
    text = quickstart_text(sqlite_server.url, sqlite_server.api_key)
    (body,) = CURL_BODY.findall(text)
    assert f"Bearer {sqlite_server.api_key}" in text
    with sqlite_server.client() as client:
        response = client.post("/api/v1/audio/music", json=json.loads(body))
    assert response.status_code == 200, response.text


def test_every_error_type_is_documented() -> None:
    doc = (ROOT / "docs/api.md").read_text()
    for type, status in ERROR_TYPES.items():
        assert f"`{type}`" in doc, type
        assert f"| {status} |" in doc, status


def test_contract_error_types_are_all_implemented() -> None:
    # The shared contract's table, when it sits beside the checkout (as in CI).
    contract = ROOT.parent / "shared" / "docs" / "api.md"
    if not contract.exists():
        pytest.skip("shared/docs/api.md not beside the checkout")
    table = re.findall(r"^\| (\d{3}) \| (\w+) \|", contract.read_text(), re.MULTILINE)
    assert table
    for status, type in table:
        assert type in ERROR_TYPES, type
        assert ERROR_TYPES[type] == int(status) or (status == "413" and type == "invalid_request")


# -- documented answers against real ones (issue 9.10) -----------------------

JSON_BLOCK = re.compile(r"```json\n(.*?)```", re.DOTALL)
DOCS_WITH_ANSWERS = ("README.md", "docs/api.md", "docs/client.md")


def documented_json(name: str) -> list[Any]:
    return [json.loads(block) for block in JSON_BLOCK.findall((ROOT / name).read_text())]


def same_shape(documented: Any, real: Any, where: str = "data") -> None:
    """The same keys at every level; ``null`` in either stands for any value there."""
    if documented is None or real is None:
        return
    if isinstance(documented, dict):
        assert isinstance(real, dict), where
        assert set(documented) == set(real), f"{where}: {sorted(documented)} != {sorted(real)}"
        for key in documented:
            same_shape(documented[key], real[key], f"{where}.{key}")
    elif isinstance(documented, list):
        assert isinstance(real, list), where
        for item in documented:
            same_shape(item, real[0], f"{where}[]")
    else:
        assert type(documented) is type(real) or {type(documented), type(real)} == {int, float}
        if isinstance(documented, str) and re.match(r"^[a-z]+_", documented):
            # An id: the documented prefix is the real one (tsk_, not task_).
            assert real.startswith(documented.split("_")[0] + "_"), f"{where}: {real}"


def test_documented_answers_have_the_real_shape(sqlite_server: LiveServer) -> None:
    api = documented_json("docs/api.md")
    poll = next(doc for doc in api if "stage" in doc.get("data", {}))
    listing = next(doc for doc in api if "items" in doc.get("data", {}))
    output = next(doc for doc in api if "audio_url" in doc)
    created_line = re.search(r"Answer: `(\{.*?\})`", (ROOT / "docs/api.md").read_text())
    assert created_line
    with sqlite_server.client() as client:
        body = json.loads(documented_bodies()[0][1])
        created = client.post("/api/v1/audio/music", json=body).json()
        queued = client.get(f"/api/v1/tasks/{created['data']['task_id']}").json()
        sqlite_server.wait_for(created["data"]["task_id"])
        done = client.get(f"/api/v1/tasks/{created['data']['task_id']}").json()
        page = client.get("/api/v1/tasks").json()
    same_shape(json.loads(created_line.group(1).replace("…", "x")), created)
    same_shape(poll, queued)
    same_shape(listing, page)
    same_shape(output, done["data"]["output"])
    assert done["data"]["output"]["engine"] == "test-tone/1"  # this server's engine
    # The engine named in examples is what the built-in catalog's engine answers.
    from songforge.engines.composer import ENGINE_NAME

    assert output["engine"] == listing["data"]["items"][0]["output"]["engine"] == ENGINE_NAME


def test_docs_name_ids_and_engines_as_the_server_does() -> None:
    from songforge.engines.composer import ENGINE_NAME

    for name in DOCS_WITH_ANSWERS:
        text = (ROOT / name).read_text()
        assert "task_…" not in text, name
        assert '"engine": "composer"' not in text and "engine composer," not in text, name
        for engine in re.findall(r'"engine": "([^"]+)"', text):
            assert engine == ENGINE_NAME, (name, engine)
