"""An error answer is an ordinary answer (issue 10, points 3, 5 and 9): the keep-alive
connection survives a 500, every answer is counted in /metrics, and production mode
sends Strict-Transport-Security."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from songforge.app import create_app
from songforge.context import AppContext
from tests.api.test_create import assert_error
from tests.conftest import LiveServer, make_settings, run_server


def _add_test_routes(app: FastAPI) -> None:
    @app.get("/test/boom")
    def boom() -> Any:
        raise RuntimeError("a bug in a route")

    @app.get("/test/peer")
    def peer(request: Request) -> Any:
        # The client's port tells which TCP connection carried the request.
        assert request.client is not None
        return {"port": request.client.port}


@pytest.fixture
def app_with_a_bug(tmp_path: Path) -> Iterator[str]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'songforge.db'}")
    context = AppContext.from_settings(settings)
    app = create_app(settings, context=context)
    _add_test_routes(app)
    server, thread, url = run_server(app)
    yield url
    server.should_exit = True
    thread.join(10)
    context.db.dispose()


def _count(metrics: str, status: str, route: str) -> float:
    for line in metrics.splitlines():
        if (
            line.startswith("songforge_http_requests_total{")
            and f'status="{status}"' in line
            and f'route="{route}"' in line
        ):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_the_connection_survives_a_500_and_the_500_is_counted(app_with_a_bug: str) -> None:
    with httpx.Client(base_url=app_with_a_bug, timeout=10) as client:
        before = _count(client.get("/metrics").text, "500", "/test/boom")
        port = client.get("/test/peer").json()["port"]
        response = client.get("/test/boom")
        assert_error(response, 500, "internal_error")
        assert response.headers["x-request-id"] in response.json()["error"]["message"]
        assert "RuntimeError" not in response.text  # no stack trace to the client
        # Same client, same keep-alive connection: the next request goes through.
        after = client.get("/test/peer")
        assert after.status_code == 200
        assert after.json()["port"] == port
        metrics = client.get("/metrics").text
    assert _count(metrics, "500", "/test/boom") == before + 1


def test_production_answers_carry_strict_transport_security(
    server_factory: Any,
) -> None:
    server: LiveServer = server_factory(
        production=True, public_url="https://songs.example.com", start_workers=False
    )
    with server.client() as client:
        for response in (
            client.get("/healthz"),
            client.get("/api/v1/account"),
            client.get("/no/such/route"),
            client.get("/signin"),
        ):
            assert response.headers["strict-transport-security"].startswith("max-age=31536000")


def test_development_mode_sends_no_strict_transport_security(sqlite_server: LiveServer) -> None:
    with sqlite_server.client() as client:
        assert "strict-transport-security" not in client.get("/healthz").headers
