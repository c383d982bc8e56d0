"""The tester's same-origin routes behave exactly like the public API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer
from tests.dashboard.helpers import fund, generate, wait_done
from tests.dashboard.webclient import WebClient


def _public(server: LiveServer, method: str, path: str, key: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(base_url=server.url) as api:
        return api.request(method, path, headers={"Authorization": f"Bearer {key}"}, **kwargs)


@pytest.mark.parametrize(
    "body",
    [
        {"model": "minimax-music", "prompt": "x", "bitrate": 1234},
        {"model": "minimax-music", "prompt": "x", "sample_rate": "44100"},
        {"model": "minimax-music", "prompt": "   "},
        {"model": "minimax-music", "prompt": "x", "lyrics": "[Chrous]\nla"},
        {"model": "minimax-music", "prompt": "x", "colour": "blue"},
        {"model": "no-such-model", "prompt": "x"},
        {"prompt": "x"},
        ["not", "an", "object"],
    ],
)
def test_validation_errors_match_the_public_api(
    dash_server: LiveServer, user: WebClient, body: Any
) -> None:
    ours = user.api_post("/dashboard/api/music", body)
    theirs = _public(dash_server, "POST", "/api/v1/audio/music", dash_server.api_key, json=body)
    assert ours.status_code == theirs.status_code == 400
    assert ours.json()["error"]["type"] == "invalid_request"
    assert ours.json()["error"].get("param") == theirs.json()["error"].get("param")
    if body != {"model": "no-such-model", "prompt": "x"}:
        assert ours.json() == theirs.json()


def test_malformed_json_is_an_envelope(user: WebClient) -> None:
    response = user.http.post(
        "/dashboard/api/music",
        content=b"{not json",
        headers={"X-CSRF-Token": user.token("/dashboard"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"
    assert "x-request-id" in response.headers


def test_insufficient_credits_and_unavailable_model(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(signup_bonus_credits=0)
    with WebClient(server.url) as user:
        assert user.sign_up().status_code == 303
        poor = user.api_post("/dashboard/api/music", {"model": "minimax-music", "prompt": "x"})
        offline = user.api_post("/dashboard/api/music", {"model": "ace-step-1.5", "prompt": "x"})
    assert poor.status_code == 402
    assert poor.json()["error"]["type"] == "insufficient_credits"
    assert offline.status_code == 503
    assert offline.json()["error"]["type"] == "model_unavailable"


def test_not_signed_in_is_401(web: Callable[[], WebClient]) -> None:
    client = web()
    response = client.http.post(
        "/dashboard/api/music", json={"model": "minimax-music", "prompt": "x"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_session_task_reads_the_same_through_both_routes(
    dash_server: LiveServer, user: WebClient
) -> None:
    fund(dash_server, user, 100)
    task_id = generate(user, lyrics="[Verse]\nhello there", bitrate=128000, sample_rate=32000)
    done = wait_done(user, task_id)
    assert done["status"] == "completed"
    assert done["output"]["bitrate"] == 128000 and done["output"]["sample_rate"] == 32000
    assert done["credits"] == {"price": 30, "held": 0, "charged": 30, "refunded": 0}

    from tests.dashboard.test_keys import _created_secret

    secret = _created_secret(user.post_form("/dashboard/keys", {"name": "compare"}).text)
    public = _public(dash_server, "GET", f"/api/v1/tasks/{task_id}", secret).json()["data"]
    assert public == done
    audio = httpx.get(done["output"]["audio_url"])
    assert audio.status_code == 200 and audio.headers["content-type"] == "audio/mpeg"


def test_other_accounts_tasks_are_404(
    dash_server: LiveServer, user: WebClient, web: Callable[[], WebClient]
) -> None:
    fund(dash_server, user, 30)
    task_id = generate(user)
    other = web()
    other.sign_up()
    answer = other.get(f"/dashboard/api/tasks/{task_id}")
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "not_found"
    wait_done(user, task_id)
