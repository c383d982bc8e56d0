"""Credits: balance, held, ledger; top-up orders; admin approval and grants; providers."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import Request

from songforge.app import create_app
from songforge.context import AppContext
from songforge.dashboard import use_payment_provider
from songforge.dashboard.payments import AdminApproval, PaymentProvider
from songforge.services.accounts import get_account
from songforge.services.orders import Order, complete_order, list_orders
from tests.conftest import LiveServer, make_settings, run_server
from tests.dashboard.webclient import WebClient


def _figure(html: str, name: str) -> int:
    match = re.search(rf'data-testid="{name}">([\d,]+)<', html)
    assert match, name
    return int(match.group(1).replace(",", ""))


def test_top_up_waits_for_an_admin_then_credits_once(
    dash_server: LiveServer, user: WebClient, admin: WebClient
) -> None:
    page = user.get("/dashboard/credits").text
    start = dash_server.settings.signup_bonus_credits
    assert _figure(page, "balance") == start
    assert AdminApproval.description in page

    created = user.post_form("/dashboard/credits/orders", {"credits": "500"})
    assert created.status_code == 303
    page = user.get(created.headers["location"]).text
    assert "waiting for approval" in page
    assert "pending" in page
    assert _figure(page, "balance") == start

    with dash_server.db.read() as conn:
        order_id = list_orders(conn, account_id=user.account_id(dash_server))[0].id
    admin_page = admin.get("/dashboard/admin").text
    pending = admin_page.split('data-testid="pending-orders"')[1].split("</table>")[0]
    assert order_id in pending and user.email in pending
    approved = admin.post_form(f"/dashboard/admin/orders/{order_id}/approve")
    assert approved.status_code == 303
    again = admin.post_form(f"/dashboard/admin/orders/{order_id}/approve")
    assert again.status_code == 409

    page = user.get("/dashboard/credits").text
    assert _figure(page, "balance") == start + 500
    assert _figure(page, "available") == start + 500
    ledger = page.split('data-testid="ledger-table"')[1]
    assert "topup" in ledger and "+500" in ledger and order_id in ledger


def test_admin_can_reject_and_grant(
    dash_server: LiveServer, user: WebClient, admin: WebClient
) -> None:
    user.post_form("/dashboard/credits/orders", {"credits": "70"})
    with dash_server.db.read() as conn:
        order = list_orders(conn, account_id=user.account_id(dash_server))[0]
    assert admin.post_form(f"/dashboard/admin/orders/{order.id}/reject").status_code == 303
    assert "rejected" in user.get("/dashboard/credits").text

    granted = admin.post_form(
        "/dashboard/admin/grants",
        {"email": user.email, "credits": "40", "note": "welcome gift"},
        token_page="/dashboard/admin",
    )
    assert granted.status_code == 303
    page = user.get("/dashboard/credits").text
    assert _figure(page, "balance") == dash_server.settings.signup_bonus_credits + 40
    assert "welcome gift" in page
    missing = admin.post_form(
        "/dashboard/admin/grants", {"email": "nobody@example.com", "credits": "5"}
    )
    assert missing.status_code == 400


def test_users_cannot_approve_or_grant(dash_server: LiveServer, user: WebClient) -> None:
    user.post_form("/dashboard/credits/orders", {"credits": "10"})
    with dash_server.db.read() as conn:
        order = list_orders(conn, account_id=user.account_id(dash_server))[0]
    assert user.post_form(f"/dashboard/admin/orders/{order.id}/approve").status_code == 403
    grant = user.post_form("/dashboard/admin/grants", {"email": user.email, "credits": "9"})
    assert grant.status_code == 403
    with dash_server.db.read() as conn:
        account = get_account(conn, user.account_id(dash_server))
    assert account is not None and account.balance == dash_server.settings.signup_bonus_credits


@pytest.mark.parametrize("amount", ["0", "-3", "abc", "1000001", ""])
def test_top_up_amount_is_checked(user: WebClient, amount: str) -> None:
    response = user.post_form("/dashboard/credits/orders", {"credits": amount})
    assert response.status_code == 400
    assert "whole number of credits" in response.text


class CheckoutProvider:
    """What a payment provider plug-in looks like (see docs/dashboard.md)."""

    name = "examplepay"
    description = "You will be sent to ExamplePay to pay."

    def __init__(self) -> None:
        self.started: list[Order] = []

    def begin(self, order: Order, request: Request) -> str | None:
        self.started.append(order)
        return f"https://pay.example/checkout?ref={order.id}"


@pytest.fixture
def provider_server(tmp_path: Path) -> Iterator[tuple[str, AppContext, CheckoutProvider]]:
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite'}")
    context = AppContext.from_settings(settings)
    app = create_app(settings, context=context)
    provider = CheckoutProvider()
    plugged: PaymentProvider = provider
    use_payment_provider(app, plugged)
    server, thread, base = run_server(app)
    yield base, context, provider
    server.should_exit = True
    thread.join(10)
    context.db.dispose()


def test_a_payment_provider_plugs_in(
    provider_server: tuple[str, AppContext, CheckoutProvider],
) -> None:
    base, context, provider = provider_server
    with WebClient(base) as client:
        client.sign_up(email=f"buyer-{uuid.uuid4().hex[:6]}@example.com")
        assert provider.description in client.get("/dashboard/credits").text
        response = client.post_form("/dashboard/credits/orders", {"credits": "300"})
        assert response.status_code == 303
        order = provider.started[0]
        assert response.headers["location"] == f"https://pay.example/checkout?ref={order.id}"
        assert order.provider == "examplepay" and order.status == "pending"
        # The provider's webhook, having verified the payment, settles the order;
        # a redelivered webhook does not credit twice.
        with context.db.write() as conn:
            assert complete_order(conn, order.id)
            assert not complete_order(conn, order.id)
        page = client.get("/dashboard/credits").text
    assert _figure(page, "balance") == context.settings.signup_bonus_credits + 300


def test_overview_shows_credits(dash_server: LiveServer, user: WebClient, admin: WebClient) -> None:
    admin.post_form(
        "/dashboard/admin/grants",
        {"email": user.email, "credits": "1234"},
        token_page="/dashboard/admin",
    )
    available = _figure(user.get("/dashboard").text, "available")
    assert available == dash_server.settings.signup_bonus_credits + 1234
