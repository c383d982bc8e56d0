"""How a top-up gets paid for: a pluggable provider; out of the box, an admin approves.

Every top-up is an order (songforge.services.orders). A provider decides what
happens after the order is created; whoever learns that the money arrived calls
``orders.complete_order``, which credits the account exactly once even when a
provider's webhook is delivered twice. docs/dashboard.md shows a full example.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI, Request

from songforge.services.orders import Order


class PaymentProvider(Protocol):
    # Stored in orders.provider (at most 32 characters).
    name: str
    # One sentence for the credits page: what happens after "Top up".
    description: str

    def begin(self, order: Order, request: Request) -> str | None:
        """Start paying for a new pending order.

        Return the URL of the provider's checkout page to send the browser to,
        or None to leave the order pending (the credits page says so).
        """


class AdminApproval:
    """Orders wait until an admin approves them on /dashboard/admin."""

    name = "admin"
    description = (
        "Your order waits for an administrator to approve it; the credits arrive the moment "
        "they do."
    )

    def begin(self, order: Order, request: Request) -> str | None:
        return None


def use_payment_provider(app: FastAPI, provider: PaymentProvider) -> None:
    """Replace the default provider (call after create_app, before serving)."""
    app.state.dashboard_payment_provider = provider


def payment_provider(request: Request) -> PaymentProvider:
    provider: PaymentProvider | None = getattr(
        request.app.state, "dashboard_payment_provider", None
    )
    return provider if provider is not None else AdminApproval()
