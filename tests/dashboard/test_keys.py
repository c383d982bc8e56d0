"""The API keys page: create (secret once), list masked with last use, revoke; isolation."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx

from tests.conftest import LiveServer
from tests.dashboard.webclient import WebClient


def _created_secret(html: str) -> str:
    match = re.search(r'id="new-key"[^>]*value="(aio_[A-Za-z0-9_-]{43})"', html)
    assert match, "no new key on the page"
    return match.group(1)


def test_create_key_with_rules_then_use_and_revoke_it(
    dash_server: LiveServer, user: WebClient
) -> None:
    response = user.post_form(
        "/dashboard/keys",
        {
            "name": "studio backend",
            "expires_days": "30",
            "credit_cap": "90",
            "models": "minimax-music",
        },
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    secret = _created_secret(response.text)
    assert "shown only this once" in response.text

    with httpx.Client(base_url=dash_server.url) as api:
        account = api.get("/api/v1/account", headers={"Authorization": f"Bearer {secret}"})
    assert account.status_code == 200
    key = account.json()["data"]["key"]
    assert key["name"] == "studio backend"
    assert key["credit_cap"] == 90
    assert key["allowed_models"] == ["minimax-music"]
    assert key["expires_at"] is not None

    listing = user.get("/dashboard/keys").text
    assert secret not in listing
    assert f"{secret[:10]}…" in listing
    assert "studio backend" in listing
    assert "0 / 90" in listing
    row = listing.split("studio backend")[1].split("</tr>")[0]
    assert row.count("UTC") == 3  # created, last used (just now), expires

    key_id = re.search(r'action="/dashboard/keys/([^/]+)/revoke"', listing)
    assert key_id
    revoked = user.post_form(f"/dashboard/keys/{key_id.group(1)}/revoke")
    assert revoked.status_code == 303
    assert "revoked" in user.get("/dashboard/keys").text
    with httpx.Client(base_url=dash_server.url) as api:
        denied = api.get("/api/v1/account", headers={"Authorization": f"Bearer {secret}"})
    assert denied.status_code == 401


def test_key_without_options_allows_everything(user: WebClient) -> None:
    response = user.post_form("/dashboard/keys", {"name": ""})
    assert response.status_code == 200
    _created_secret(response.text)
    row = user.get("/dashboard/keys").text.split("<tbody>")[1]
    assert "no cap" in row
    assert ">all<" in row
    assert "never" in row


def test_bad_key_options_are_explained(user: WebClient) -> None:
    for data, message in (
        ({"expires_days": "0"}, "Expiry must be a whole number"),
        ({"credit_cap": "-5"}, "credit cap must be a whole number"),
        ({"models": "no-such-model"}, "is not available here now"),
        ({"name": "x" * 201}, "at most 200"),
    ):
        response = user.post_form("/dashboard/keys", data)
        assert response.status_code == 400, data
        assert message in response.text
        assert 'id="new-key"' not in response.text


def test_last_use_is_shown(dash_server: LiveServer, user: WebClient) -> None:
    secret = _created_secret(user.post_form("/dashboard/keys", {"name": "used"}).text)
    assert "never" in user.get("/dashboard/keys").text.split("<tbody>")[1].split("</tr>")[0]
    with httpx.Client(base_url=dash_server.url) as api:
        api.get("/api/v1/account", headers={"Authorization": f"Bearer {secret}"})
    row = user.get("/dashboard/keys").text.split("<tbody>")[1].split("</tr>")[0]
    assert row.count("UTC") == 2  # created and last used


def test_other_accounts_keys_are_invisible_and_irrevocable(
    dash_server: LiveServer, user: WebClient, web: Callable[[], WebClient]
) -> None:
    user.post_form("/dashboard/keys", {"name": "mine-only"})
    listing = user.get("/dashboard/keys").text
    key_id = re.search(r'action="/dashboard/keys/([^/]+)/revoke"', listing)
    assert key_id
    other = web()
    other.sign_up()
    assert "mine-only" not in other.get("/dashboard/keys").text
    attempt = other.post_form(f"/dashboard/keys/{key_id.group(1)}/revoke")
    assert attempt.status_code == 404
    assert "revoked" not in user.get("/dashboard/keys").text


def test_only_live_models_are_offered_and_accepted(
    dash_server: LiveServer, user: WebClient
) -> None:
    # ace-step-1.5 is in the built-in catalog, but this server has no worker for it.
    assert "ace-step-1.5" in {spec.id for spec in dash_server.context.catalog}
    assert "ace-step-1.5" not in dash_server.context.live_workers()
    page = user.get("/dashboard/keys").text
    offered = re.findall(r'name="models" value="([^"]+)"', page)
    assert offered == ["minimax-music"]
    refused = user.post_form("/dashboard/keys", {"models": "ace-step-1.5"})
    assert refused.status_code == 400
    assert "The model &#39;ace-step-1.5&#39; is not available here now" in refused.text
    assert 'id="new-key"' not in refused.text


def test_keys_page_says_so_when_no_model_is_live(
    server_factory: Callable[..., LiveServer],
) -> None:
    server = server_factory(start_workers=False)
    with WebClient(server.url) as client:
        assert client.sign_up().status_code == 303
        page = client.get("/dashboard/keys").text
    assert 'name="models"' not in page
    assert "No model is live right now" in page
