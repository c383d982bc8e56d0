"""Every state-changing call needs the session's CSRF token and a same-site origin."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from songforge.dashboard.csrf import anonymous_token, tokens_match
from songforge.services.keys import list_keys
from tests.conftest import LiveServer
from tests.dashboard.webclient import PASSWORD, WebClient, new_email


def _key_count(server: LiveServer, client: WebClient) -> int:
    with server.db.read() as conn:
        return len(list_keys(conn, client.account_id(server)))


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_forms_without_the_right_token_are_refused(
    dash_server: LiveServer, user: WebClient, token: str | None
) -> None:
    data = {"name": "sneaky"}
    if token is not None:
        data["csrf_token"] = token
    response = user.http.post("/dashboard/keys", data=data)
    assert response.status_code == 403
    assert "Form expired" in response.text
    assert _key_count(dash_server, user) == 0


def test_another_sessions_token_is_refused(
    dash_server: LiveServer, user: WebClient, web: Callable[[], WebClient]
) -> None:
    other = web()
    other.sign_up()
    response = user.http.post(
        "/dashboard/keys", data={"csrf_token": other.token(), "name": "crossed"}
    )
    assert response.status_code == 403
    assert _key_count(dash_server, user) == 0


def test_a_cross_site_origin_is_refused_even_with_the_token(
    dash_server: LiveServer, user: WebClient
) -> None:
    response = user.http.post(
        "/dashboard/keys",
        data={"csrf_token": user.token(), "name": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    same = user.http.post(
        "/dashboard/keys",
        data={"csrf_token": user.token(), "name": "ok"},
        headers={"Origin": dash_server.url},
    )
    assert same.status_code == 200
    assert _key_count(dash_server, user) == 1


def test_json_calls_need_the_header(dash_server: LiveServer, user: WebClient) -> None:
    body = {"model": "minimax-music", "prompt": "calm piano"}
    for token in ("", "nope"):
        response = user.api_post("/dashboard/api/music", body, token=token)
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["type"] == "permission_denied"
        assert "CSRF" in error["message"]
    # A form-encoded or text/plain cross-site post cannot set the header at all.
    plain = user.http.post(
        "/dashboard/api/music",
        content=b'{"model":"minimax-music","prompt":"x"}',
        headers={"Content-Type": "text/plain"},
    )
    assert plain.status_code == 403


def test_sign_in_form_needs_its_pre_session_token(
    dash_server: LiveServer, user: WebClient, web: Callable[[], WebClient]
) -> None:
    # Login CSRF: a foreign page posting the attacker's credentials into the victim's browser.
    victim = web()
    forged = victim.http.post(
        "/signin", data={"email": user.email, "password": PASSWORD, "csrf_token": "guess"}
    )
    assert forged.status_code == 403
    assert "sf_session" not in victim.http.cookies
    page = victim.get("/signin")
    assert page.status_code == 200
    wrong = victim.http.post(
        "/signin", data={"email": user.email, "password": PASSWORD, "csrf_token": "guess"}
    )
    assert wrong.status_code == 403
    assert victim.sign_in(user.email).status_code == 303


def test_sign_up_and_sign_out_need_tokens(web: Callable[[], WebClient], user: WebClient) -> None:
    stranger = web()
    stranger.get("/signup")
    refused = stranger.http.post(
        "/signup", data={"email": new_email(), "password": PASSWORD, "csrf_token": "x"}
    )
    assert refused.status_code == 403
    assert user.http.post("/signout", data={}).status_code == 403
    assert user.get("/dashboard").status_code == 200


def test_token_helpers() -> None:
    assert anonymous_token("s", "a") != anonymous_token("s", "b")
    assert anonymous_token("s", "a") != anonymous_token("t", "a")
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("", "")
    assert not tokens_match(None, None)
