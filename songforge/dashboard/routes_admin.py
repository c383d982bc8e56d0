"""The admin page: approve or reject top-up orders, grant credits, see accounts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from songforge.dashboard.web import (
    AdminUser,
    CheckedForm,
    PageError,
    context_of,
    form_text,
    render,
    see_other,
)
from songforge.services import orders
from songforge.services.accounts import find_account_by_email, get_account, list_accounts

router = APIRouter()

GRANT_MAX = 10_000_000


def _admin_page(
    request: Request, *, status: int = 200, error: str | None = None, notice: str | None = None
) -> Response:
    context = context_of(request)
    with context.db.read() as conn:
        pending = orders.list_orders(conn, status="pending", limit=200)
        recent = orders.list_orders(conn, limit=50)
        accounts = list_accounts(conn, limit=500)
    emails = {account.id: account.email or account.id for account in accounts}
    return render(
        request,
        "admin.html",
        status=status,
        title="Admin",
        pending=pending,
        recent=recent,
        accounts=accounts,
        emails=emails,
        error=error,
        notice=notice,
    )


_NOTICES = {
    "approved": "Order approved; the credits are on the account.",
    "rejected": "Order rejected.",
    "granted": "Credits granted.",
}


@router.get("/dashboard/admin")
def admin_page(request: Request, user: AdminUser, notice: str = "") -> Response:
    return _admin_page(request, notice=_NOTICES.get(notice))


@router.post("/dashboard/admin/orders/{order_id}/approve")
def approve(order_id: str, request: Request, user: AdminUser, form: CheckedForm) -> Response:
    with context_of(request).db.write() as conn:
        settled = orders.complete_order(conn, order_id)
    if not settled:
        raise PageError(409, "Already settled", "That order is not pending any more.")
    return see_other("/dashboard/admin?notice=approved")


@router.post("/dashboard/admin/orders/{order_id}/reject")
def reject(order_id: str, request: Request, user: AdminUser, form: CheckedForm) -> Response:
    with context_of(request).db.write() as conn:
        rejected = orders.reject_order(conn, order_id)
    if not rejected:
        raise PageError(409, "Already settled", "That order is not pending any more.")
    return see_other("/dashboard/admin?notice=rejected")


@router.post("/dashboard/admin/grants")
def grant(request: Request, user: AdminUser, form: CheckedForm) -> Response:
    context = context_of(request)
    email = form_text(form, "email").strip().lower()
    raw = form_text(form, "credits").strip()
    note = form_text(form, "note").strip()[:500]
    if not raw.isdigit() or not 1 <= int(raw) <= GRANT_MAX:
        return _admin_page(
            request, status=400, error=f"Credits must be a whole number from 1 to {GRANT_MAX}."
        )
    with context.db.write() as conn:
        account = find_account_by_email(conn, email) or get_account(conn, email)
        if account is not None:
            orders.grant_credits(
                conn,
                account.id,
                int(raw),
                provider="admin",
                note=note or f"granted by {user.account.email or user.account.id}",
            )
    if account is None:
        return _admin_page(request, status=400, error=f"No account {email!r}.")
    return see_other("/dashboard/admin?notice=granted")
