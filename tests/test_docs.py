"""Every documented request example is sent to a live server and must succeed, and
every error type of the contract is documented."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
