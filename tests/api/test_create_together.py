"""Concurrent creates over HTTP share transactions (group commit) and stay exact."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from songforge.services.accounts import get_account
from tests.conftest import LiveServer


async def _post_all(
    server: LiveServer,
    key: str,
    bodies: list[dict[str, Any]],
    headers: list[dict[str, str]] | None = None,
) -> list[httpx.Response]:
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        return list(
            await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/audio/music",
                        json=body,
                        headers={**auth, **(headers[i] if headers else {})},
                    )
                    for i, body in enumerate(bodies)
                )
            )
        )


def test_concurrent_creates_are_exact_and_each_is_stored(live_server: LiveServer) -> None:
    server = live_server
    server.stop_workers()  # keep every task queued: the limit counts unfinished ones
    price = server.context.catalog.get("minimax-music").price  # type: ignore[union-attr]
    account = server.new_account(credits=price * 20)
    bodies = [{"model": "minimax-music", "prompt": f"song {i}"} for i in range(30)]
    answers = asyncio.run(_post_all(server, account.api_key, bodies))
    codes = sorted(a.status_code for a in answers)
    assert codes == [200] * 20 + [402] * 10, [a.text for a in answers if a.status_code >= 500]
    refused = next(a for a in answers if a.status_code == 402).json()
    assert refused["error"]["type"] == "insufficient_credits"
    created = [a.json()["data"]["task_id"] for a in answers if a.status_code == 200]
    assert len(set(created)) == 20
    with server.client(account.api_key) as client:
        for task_id in created:
            data = client.get(f"/api/v1/tasks/{task_id}").json()["data"]
            assert data["status"] == "IN_PROGRESS" and data["credits"]["held"] == price
    with server.db.read() as conn:
        found = get_account(conn, account.id)
    assert found is not None and found.held == price * 20 and found.balance == price * 20


def test_concurrent_creates_with_one_idempotency_key_make_one_task(
    live_server: LiveServer,
) -> None:
    server = live_server
    server.stop_workers()
    price = server.context.catalog.get("minimax-music").price  # type: ignore[union-attr]
    account = server.new_account(credits=price * 10)
    body = {"model": "minimax-music", "prompt": "once"}
    headers = [{"Idempotency-Key": "same-key"}] * 6
    answers = asyncio.run(_post_all(server, account.api_key, [body] * 6, headers))
    assert all(a.status_code == 200 for a in answers)
    assert len({a.json()["data"]["task_id"] for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 5
    with server.db.read() as conn:
        found = get_account(conn, account.id)
    assert found is not None and found.held == price
