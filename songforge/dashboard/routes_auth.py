"""Sign-up, sign-in and sign-out."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from songforge.catalog import ModelSpec
from songforge.dashboard.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    set_password,
    stored_hash_for,
    verify_password,
)
from songforge.dashboard.redirects import safe_next
from songforge.dashboard.sessions import end_session, purge_expired, start_session
from songforge.dashboard.web import (
    CheckedForm,
    OptionalVisitor,
    clear_session_cookie,
    context_of,
    form_text,
    render,
    see_other,
    session_cookie_name,
    set_session_cookie,
)
from songforge.services.accounts import create_account, find_account_by_email
from songforge.services.orders import grant_credits

router = APIRouter()

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
# Per client address and per email; enough for a person, too few for guessing.
SIGN_IN_ATTEMPTS_PER_MINUTE = 10


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _signed_in_response(request: Request, account_id: str, next_path: str) -> Response:
    """Start a fresh session (never reuse the one the browser arrived with)."""
    context = context_of(request)
    old_token = request.cookies.get(session_cookie_name(context))
    with context.db.write() as conn:
        if old_token:
            end_session(conn, old_token)
        purge_expired(conn)
        token, _session = start_session(conn, account_id)
    response = see_other(next_path)
    set_session_cookie(response, context, token)
    return response


@router.get("/signin")
def sign_in_page(request: Request, visitor: OptionalVisitor, next: str = "") -> Response:
    # Shown even to a signed-in visitor: signing in again switches account, and
    # always with a new session id.
    target = safe_next(next)
    return render(request, "signin.html", title="Sign in", next=target, email="", error=None)


@router.post("/signin")
def sign_in(request: Request, form: CheckedForm) -> Response:
    context = context_of(request)
    email = form_text(form, "email").strip().lower()
    password = form_text(form, "password")
    target = safe_next(form_text(form, "next"))
    limiter = context.rate_limiter
    if not (
        limiter.hit(
            f"dashboard-signin-ip:{_client_address(request)}", 4 * SIGN_IN_ATTEMPTS_PER_MINUTE
        ).allowed
        and limiter.hit(f"dashboard-signin-email:{email}", SIGN_IN_ATTEMPTS_PER_MINUTE).allowed
    ):
        return render(
            request,
            "signin.html",
            status=429,
            title="Sign in",
            next=target,
            email=email,
            error="Too many attempts. Wait a minute and try again.",
        )
    with context.db.read() as conn:
        account = find_account_by_email(conn, email) if email else None
        stored = stored_hash_for(conn, account.id) if account else None
    if account is None or not verify_password(stored, password):
        return render(
            request,
            "signin.html",
            status=400,
            title="Sign in",
            next=target,
            email=email,
            error="That email and password do not match an account.",
        )
    if stored is not None and needs_rehash(stored):
        with context.db.write() as conn:
            set_password(conn, account.id, password)
    return _signed_in_response(request, account.id, target)


@router.get("/signup")
def sign_up_page(request: Request, visitor: OptionalVisitor) -> Response:
    if visitor.signed_in:
        return see_other("/dashboard")
    return _sign_up_form(request)


def _sign_up_form(
    request: Request,
    *,
    status: int = 200,
    email: str = "",
    name: str = "",
    error: str | None = None,
) -> Response:
    context = context_of(request)
    bonus = context.settings.signup_bonus_credits
    return render(
        request,
        "signup.html",
        status=status,
        title="Create an account",
        email=email,
        display_name=name,
        error=error,
        bonus=bonus,
        bonus_songs=_songs_for(bonus, context.live_models()),
    )


def _songs_for(credits: int, models: list[ModelSpec]) -> list[str]:
    """What the sign-up credits buy, per live model ("3 songs with MiniMax Music")."""
    songs = []
    for spec in models:
        count = credits // spec.price if spec.price > 0 else 0
        if count > 0:
            songs.append(f"{count} song{'s' if count > 1 else ''} with {spec.name}")
    return songs


@router.post("/signup")
def sign_up(request: Request, form: CheckedForm) -> Response:
    context = context_of(request)
    email = form_text(form, "email").strip().lower()
    name = form_text(form, "display_name").strip()[:200]
    password = form_text(form, "password")
    if not EMAIL.match(email):
        return _sign_up_form(
            request, status=400, email=email, name=name, error="Enter a valid email address."
        )
    problem = password_problem(password, email)
    if problem is not None:
        return _sign_up_form(request, status=400, email=email, name=name, error=problem)
    if not context.rate_limiter.hit(
        f"dashboard-signup-ip:{_client_address(request)}", SIGN_IN_ATTEMPTS_PER_MINUTE
    ).allowed:
        return _sign_up_form(
            request, status=429, email=email, name=name, error="Too many sign-ups; wait a minute."
        )
    password_hash = hash_password(password)
    try:
        with context.db.write() as conn:
            if find_account_by_email(conn, email) is not None:
                raise _EmailTaken
            account = create_account(
                conn, email=email, display_name=name, password_hash=password_hash
            )
            bonus = context.settings.signup_bonus_credits
            if bonus > 0:
                grant_credits(
                    conn, account.id, bonus, provider="signup_bonus", note="sign-up bonus"
                )
    except (_EmailTaken, IntegrityError):
        return _sign_up_form(
            request,
            status=400,
            email=email,
            name=name,
            error="An account with this email already exists. Sign in instead.",
        )
    return _signed_in_response(request, account.id, "/dashboard")


class _EmailTaken(Exception):
    pass


@router.post("/signout")
def sign_out(request: Request, form: CheckedForm) -> Response:
    context = context_of(request)
    token = request.cookies.get(session_cookie_name(context))
    if token:
        with context.db.write() as conn:
            end_session(conn, token)
    response = see_other("/signin")
    clear_session_cookie(response, context)
    return response
