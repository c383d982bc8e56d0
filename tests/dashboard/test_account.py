"""The account page: password change ends other sessions; sign out everywhere."""

from __future__ import annotations

from collections.abc import Callable

from tests.dashboard.webclient import PASSWORD, WebClient

NEW_PASSWORD = "a brand new passphrase"


def test_password_change_signs_out_other_browsers(
    user: WebClient, web: Callable[[], WebClient]
) -> None:
    laptop = web()
    assert laptop.sign_in(user.email).status_code == 303
    page = user.get("/dashboard/account")
    assert page.status_code == 200 and user.email in page.text

    wrong = user.post_form(
        "/dashboard/account/password",
        {"current_password": "not it at all", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400 and "current password is not right" in wrong.text
    weak = user.post_form(
        "/dashboard/account/password", {"current_password": PASSWORD, "new_password": "short"}
    )
    assert weak.status_code == 400 and "at least 10" in weak.text

    before = user.http.cookies["sf_session"]
    changed = user.post_form(
        "/dashboard/account/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 303
    assert user.http.cookies["sf_session"] != before
    assert "Password changed" in user.get(changed.headers["location"]).text
    assert laptop.get("/dashboard").status_code == 303

    fresh = web()
    assert fresh.sign_in(user.email, PASSWORD).status_code == 400
    assert fresh.sign_in(user.email, NEW_PASSWORD).status_code == 303


def test_sign_out_everywhere(user: WebClient, web: Callable[[], WebClient]) -> None:
    phone = web()
    assert phone.sign_in(user.email).status_code == 303
    response = user.post_form("/dashboard/account/sign-out-everywhere", token_page="/dashboard")
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    assert user.get("/dashboard").status_code == 303
    assert phone.get("/dashboard").status_code == 303
