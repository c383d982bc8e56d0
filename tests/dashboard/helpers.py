"""Small helpers shared by the dashboard tests."""

from __future__ import annotations

import time
from typing import Any

from songforge.services.orders import grant_credits
from tests.conftest import LiveServer
from tests.dashboard.webclient import WebClient


def fund(server: LiveServer, client: WebClient, credits: int) -> None:
    with server.db.write() as conn:
        grant_credits(conn, client.account_id(server), credits, provider="operator")


def generate(client: WebClient, **fields: Any) -> str:
    body = {"model": "minimax-music", "prompt": "warm lo-fi piano", **fields}
    response = client.api_post("/dashboard/api/music", body)
    assert response.status_code == 200, response.text
    envelope = response.json()
    assert envelope["code"] == 200 and envelope["message"] == "success"
    assert envelope["data"]["status"] == "IN_PROGRESS"
    return str(envelope["data"]["task_id"])


def wait_done(client: WebClient, task_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/dashboard/api/tasks/{task_id}")
        assert answer.status_code == 200, answer.text
        data: dict[str, Any] = answer.json()["data"]
        if data["status"] != "IN_PROGRESS":
            return data
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} did not finish")
