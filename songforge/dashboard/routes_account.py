"""The signed-in pages: overview, API keys, credits."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from songforge.dashboard.payments import payment_provider
from songforge.dashboard.web import (
    CheckedForm,
    CurrentUser,
    PageError,
    context_of,
    form_text,
    render,
    see_other,
)
from songforge.db.types import utcnow
from songforge.services import billing, orders
from songforge.services.accounts import get_account
from songforge.services.keys import create_key, list_keys, revoke_key
from songforge.services.tasks import list_tasks

router = APIRouter()

KEY_NAME_MAX = 200
KEY_EXPIRY_DAYS_MAX = 3650
CREDIT_CAP_MAX = 10**12
TOP_UP_MAX = 1_000_000
# Enough for anyone waiting on an approval; stops a script from flooding admins.
PENDING_ORDERS_MAX = 10


@router.get("/dashboard")
def overview(request: Request, user: CurrentUser) -> Response:
    context = context_of(request)
    with context.db.read() as conn:
        account = get_account(conn, user.account.id) or user.account
        recent = list_tasks(conn, account.id, limit=5).items
        keys = [key for key in list_keys(conn, account.id) if key.is_active(utcnow())]
    return render(
        request,
        "overview.html",
        title="Overview",
        account=account,
        recent=recent,
        active_keys=len(keys),
        models=context.live_models(),
    )


def _keys_page(
    request: Request,
    user: CurrentUser,
    *,
    status: int = 200,
    created_secret: str | None = None,
    created_name: str = "",
    error: str | None = None,
    form: dict[str, object] | None = None,
) -> Response:
    context = context_of(request)
    with context.db.read() as conn:
        keys = list_keys(conn, user.account.id)
    return render(
        request,
        "keys.html",
        status=status,
        title="API keys",
        keys=keys,
        now=utcnow(),
        # Only models a key could be used with now; the CLI can name any catalog model.
        models=context.live_models(),
        created_secret=created_secret,
        created_name=created_name,
        error=error,
        form=form or {},
    )


@router.get("/dashboard/keys")
def keys_page(request: Request, user: CurrentUser) -> Response:
    return _keys_page(request, user)


def _optional_int(form: FormData, name: str, label: str, low: int, high: int) -> int | None:
    raw = form_text(form, name).strip()
    if not raw:
        return None
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ValueError(f"{label} must be a whole number from {low} to {high}.")
    return int(raw)


@router.post("/dashboard/keys")
def create_key_post(request: Request, user: CurrentUser, form: CheckedForm) -> Response:
    context = context_of(request)
    name = form_text(form, "name").strip()
    models = [value for value in form.getlist("models") if isinstance(value, str)]
    echo: dict[str, object] = {
        "name": name,
        "expires_days": form_text(form, "expires_days"),
        "credit_cap": form_text(form, "credit_cap"),
        "models": models,
    }
    try:
        if len(name) > KEY_NAME_MAX:
            raise ValueError(f"The name must be at most {KEY_NAME_MAX} characters.")
        days = _optional_int(form, "expires_days", "Expiry", 1, KEY_EXPIRY_DAYS_MAX)
        cap = _optional_int(form, "credit_cap", "The credit cap", 1, CREDIT_CAP_MAX)
        live = {spec.id for spec in context.live_models()}
        not_live = [model for model in models if model not in live]
        if not_live:
            raise ValueError(
                f"The model {not_live[0]!r} is not available here now; pick from the models listed."
            )
    except ValueError as exc:
        return _keys_page(request, user, status=400, error=str(exc), form=echo)
    with context.db.write() as conn:
        created = create_key(
            conn,
            user.account.id,
            name=name,
            expires_at=utcnow() + timedelta(days=days) if days else None,
            credit_cap=cap,
            allowed_models=sorted(set(models)) or None,
        )
    # Rendered straight into this response (never stored or redirected with) so
    # the secret exists only in this one page.
    return _keys_page(request, user, created_secret=created.secret, created_name=name)


@router.post("/dashboard/keys/{key_id}/revoke")
def revoke_key_post(
    key_id: str, request: Request, user: CurrentUser, form: CheckedForm
) -> Response:
    context = context_of(request)
    with context.db.write() as conn:
        revoked = revoke_key(conn, user.account.id, key_id)
    if not revoked:
        raise PageError(404, "No such key", "There is no active key with that id on your account.")
    # API processes keep recently used keys in memory for a moment: drop this one
    # here, and tell the other replicas (services/invalidation.py).
    context.key_revoked(key_id)
    return see_other("/dashboard/keys")


def _credits_page(
    request: Request,
    user: CurrentUser,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    context = context_of(request)
    with context.db.read() as conn:
        account = get_account(conn, user.account.id) or user.account
        ledger = billing.ledger_for(conn, account.id, limit=100)
        own_orders = orders.list_orders(conn, account_id=account.id, limit=50)
    return render(
        request,
        "credits.html",
        status=status,
        title="Credits",
        account=account,
        ledger=ledger,
        orders=own_orders,
        provider=payment_provider(request),
        error=error,
        notice=notice,
        top_up_max=TOP_UP_MAX,
    )


@router.get("/dashboard/credits")
def credits_page(request: Request, user: CurrentUser, notice: str = "") -> Response:
    message = "Order created and waiting for approval." if notice == "order-pending" else None
    return _credits_page(request, user, notice=message)


@router.post("/dashboard/credits/orders")
def top_up(request: Request, user: CurrentUser, form: CheckedForm) -> Response:
    context = context_of(request)
    raw = form_text(form, "credits").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= TOP_UP_MAX:
        return _credits_page(
            request,
            user,
            status=400,
            error=f"Enter a whole number of credits from 1 to {TOP_UP_MAX}.",
        )
    provider = payment_provider(request)
    with context.db.write() as conn:
        pending = orders.list_orders(
            conn, account_id=user.account.id, status="pending", limit=PENDING_ORDERS_MAX
        )
        if len(pending) >= PENDING_ORDERS_MAX:
            order = None
        else:
            order = orders.create_order(
                conn, user.account.id, int(raw), provider=provider.name, note="dashboard top-up"
            )
    if order is None:
        return _credits_page(
            request,
            user,
            status=429,
            error=f"You already have {PENDING_ORDERS_MAX} orders waiting; wait for them first.",
        )
    checkout = provider.begin(order, request)
    if checkout is not None:
        return see_other(checkout)
    return see_other("/dashboard/credits?notice=order-pending")
