"""The account page: change the password, sign out everywhere."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from songforge.dashboard.sessions import end_all_sessions, start_session
from songforge.dashboard.web import (
    CheckedForm,
    CurrentUser,
    clear_session_cookie,
    context_of,
    form_text,
    render,
    see_other,
    set_session_cookie,
)
from songforge.services.passwords import (
    password_problem,
    set_password,
    stored_hash_for,
    verify_password,
)

router = APIRouter()


def _account_page(
    request: Request,
    user: CurrentUser,
    *,
    status: int = 200,
    error: str | None = None,
    notice: str | None = None,
) -> Response:
    return render(
        request,
        "account.html",
        status=status,
        title="Your account",
        session=user.session,
        error=error,
        notice=notice,
    )


_NOTICES = {"password": "Password changed; every other session was signed out."}


@router.get("/dashboard/account")
def account_page(request: Request, user: CurrentUser, notice: str = "") -> Response:
    return _account_page(request, user, notice=_NOTICES.get(notice))


def _fresh_session(request: Request, account_id: str, location: str) -> Response:
    """End every session of the account, then keep this browser signed in on a new one."""
    context = context_of(request)
    with context.db.write() as conn:
        end_all_sessions(conn, account_id)
        token, _session = start_session(conn, account_id)
    response = see_other(location)
    set_session_cookie(response, context, token)
    return response


@router.post("/dashboard/account/password")
def change_password(request: Request, user: CurrentUser, form: CheckedForm) -> Response:
    context = context_of(request)
    current = form_text(form, "current_password")
    new = form_text(form, "new_password")
    with context.db.read() as conn:
        stored = stored_hash_for(conn, user.account.id)
    if not verify_password(stored, current):
        return _account_page(request, user, status=400, error="Your current password is not right.")
    problem = password_problem(new, user.account.email or "")
    if problem is not None:
        return _account_page(request, user, status=400, error=problem)
    with context.db.write() as conn:
        set_password(conn, user.account.id, new)
    return _fresh_session(request, user.account.id, "/dashboard/account?notice=password")


@router.post("/dashboard/account/sign-out-everywhere")
def sign_out_everywhere(request: Request, user: CurrentUser, form: CheckedForm) -> Response:
    context = context_of(request)
    with context.db.write() as conn:
        end_all_sessions(conn, user.account.id)
    response = see_other("/signin")
    clear_session_cookie(response, context)
    return response
