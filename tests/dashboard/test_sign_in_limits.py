"""Sign-in and sign-up against strangers (issue 10, points 6, 7 and 8), over real HTTP:
a flood of wrong passwords cannot keep the owner out, sign-up does not tell whether an
email has an account, and X-Forwarded-For is believed only from named proxies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from argon2 import PasswordHasher

from songforge.dashboard import routes_auth
from songforge.services import passwords
from tests.conftest import LiveServer
from tests.dashboard.conftest import make_admin
from tests.dashboard.webclient import PASSWORD, WebClient, new_email

LIMIT = 3  # SIGN_IN_ATTEMPTS_PER_MINUTE for these tests


@pytest.fixture(autouse=True)
def low_sign_in_limits() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(routes_auth, "SIGN_IN_ATTEMPTS_PER_MINUTE", LIMIT)
        cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
        patch.setattr(passwords, "_hasher", cheap)
        patch.setattr(passwords, "_DUMMY_HASH", cheap.hash("dummy"))
        yield


@pytest.fixture
def server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory(start_workers=False)


def _sign_in(server: LiveServer, email: str, password: str, client_ip: str | None = None) -> Any:
    with WebClient(server.url) as client:
        headers = {"X-Forwarded-For": client_ip} if client_ip else {}
        client.http.headers.update(headers)
        return client.sign_in(email, password)


def test_wrong_passwords_from_a_stranger_do_not_lock_out_a_known_browser(
    server: LiveServer,
) -> None:
    email = make_admin(server)
    owner = WebClient(server.url)
    assert owner.sign_in(email).status_code == 303  # this browser now knows the email
    owner.http.cookies.delete("sf_session")
    # A stranger floods the account with wrong passwords, far past every limit.
    statuses = [_sign_in(server, email, "wrong password!").status_code for _ in range(12 * LIMIT)]
    assert statuses[0] == 400 and statuses[-1] == 429
    # The owner, from the browser they used before, still gets in.
    assert owner.sign_in(email).status_code == 303
    owner.close()


def test_the_per_email_and_client_limit_still_stops_guessing(server: LiveServer) -> None:
    email = make_admin(server)
    with WebClient(server.url) as guesser:
        statuses = [guesser.sign_in(email, f"guess number {i}").status_code for i in range(LIMIT)]
        assert statuses == [400] * LIMIT
        # Blocked now, even with the right password (the guesser cannot tell it was right).
        assert guesser.sign_in(email).status_code == 429


def test_sign_up_answers_the_same_whether_the_email_exists_or_not(server: LiveServer) -> None:
    existing = make_admin(server)
    answers = []
    for email in (existing, new_email()):
        with WebClient(server.url) as client:
            response = client.sign_up_only(email, "another password entirely")
            answers.append(
                (
                    response.status_code,
                    response.headers.get("location"),
                    response.text,
                    sorted(c.split("=")[0] for c in response.headers.get_list("set-cookie")),
                )
            )
    assert answers[0] == answers[1]
    assert answers[0][0] == 303 and answers[0][1] == "/signin?signed_up=1"
    # The existing account is untouched: its password is still the old one.
    assert _sign_in(server, existing, "another password entirely").status_code == 400
    assert _sign_in(server, existing, PASSWORD).status_code == 303


def _sign_up_statuses(server: LiveServer, rotate: bool) -> list[int]:
    statuses = []
    for i in range(LIMIT + 2):
        with WebClient(server.url) as client:
            if rotate:
                client.http.headers["X-Forwarded-For"] = f"203.0.113.{i + 1}"
            statuses.append(client.sign_up_only().status_code)
    return statuses


def test_x_forwarded_for_from_an_unnamed_peer_is_ignored(server: LiveServer) -> None:
    # The per-address sign-up limit holds however the client rotates the header.
    assert _sign_up_statuses(server, rotate=True)[-1] == 429


def test_x_forwarded_for_from_a_named_proxy_is_believed(
    server_factory: Callable[..., LiveServer],
) -> None:
    proxied = server_factory(start_workers=False, trusted_proxies="127.0.0.1/32, ::1")
    assert 429 not in _sign_up_statuses(proxied, rotate=True)
    assert _sign_up_statuses(proxied, rotate=False)[-1] == 429
