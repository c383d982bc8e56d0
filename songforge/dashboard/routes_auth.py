"""Sign-up, sign-in and sign-out.

Sign-in limits (docs/decisions/0005-hardening.md): a stranger must not be able to
keep an account's owner out. Attempts are counted per email *and* client address
together, per client address across emails, and per email across every client
that has no device cookie for it; a browser that once signed in to the email
carries that cookie and is counted on its own, so a flood of wrong passwords from
elsewhere never locks the owner out of a browser they have used before.

Sign-up answers the same whether the email has an account or not (a redirect to
the sign-in page with the same notice), so it cannot be used to find out who has one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from contextlib import suppress

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError

from songforge.catalog import ModelSpec
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
from songforge.services.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    set_password,
    stored_hash_for,
    verify_password,
)

router = APIRouter()

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}$")
# Per email and client together (and per email on a known device); enough for a
# person, too few for guessing. The other limits are multiples of it.
SIGN_IN_ATTEMPTS_PER_MINUTE = 10
# One client address, all emails together (one machine spraying many accounts).
CLIENT_ATTEMPTS_FACTOR = 4
# One email, all clients without its device cookie together (guessing from many
# addresses). This one a stranger can exhaust; the device cookie is the way round it.
UNKNOWN_DEVICES_FACTOR = 3
DEVICE_COOKIE_DAYS = 365
SIGNED_UP_NOTICE = (
    "If this email was new here, its account is ready: sign in with the password you "
    "chose. If it already had an account, sign in with that account's password."
)


def _client_address(request: Request) -> str:
    # The peer, or the client behind a trusted proxy (api/proxies.py).
    return request.client.host if request.client else "unknown"


def _email_key(email: str) -> str:
    # Rate-limit keys may live in a shared Redis: no email addresses in them.
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def _device_cookie_name(request: Request) -> str:
    return "__Secure-sf_device" if context_of(request).settings.production else "sf_device"


def _device_token(request: Request, email: str) -> str:
    """Proof that this browser once signed in to ``email`` (an HMAC of it)."""
    secret = context_of(request).settings.resolved_secret_key().encode()
    return hmac.new(secret, f"signin-device:{email}".encode(), hashlib.sha256).hexdigest()


def _known_device(request: Request, email: str) -> bool:
    given = request.cookies.get(_device_cookie_name(request), "")
    return given.isascii() and hmac.compare_digest(given, _device_token(request, email))


def _failure_keys(request: Request, email: str) -> list[tuple[str, int]]:
    """The counters of failed sign-ins this attempt is judged by, with their limits."""
    per_pair = SIGN_IN_ATTEMPTS_PER_MINUTE
    email_key = _email_key(email)
    if _known_device(request, email):
        # Counted apart from strangers: only the owner's own browsers share this.
        return [(f"dashboard-signin-device:{email_key}", per_pair)]
    client = _client_address(request)
    return [
        (f"dashboard-signin-ip:{client}", CLIENT_ATTEMPTS_FACTOR * per_pair),
        (f"dashboard-signin-pair:{email_key}:{client}", per_pair),
        (f"dashboard-signin-email:{email_key}", UNKNOWN_DEVICES_FACTOR * per_pair),
    ]


def _sign_in_allowed(request: Request, email: str) -> bool:
    # Only failures are counted: signing in successfully costs nothing.
    limiter = context_of(request).rate_limiter
    return all(limiter.count(key) < limit for key, limit in _failure_keys(request, email))


def _count_failure(request: Request, email: str) -> None:
    limiter = context_of(request).rate_limiter
    for key, limit in _failure_keys(request, email):
        limiter.hit(key, limit)


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
    notice = SIGNED_UP_NOTICE if request.query_params.get("signed_up") else None
    return render(
        request, "signin.html", title="Sign in", next=target, email="", error=None, notice=notice
    )


@router.post("/signin")
def sign_in(request: Request, form: CheckedForm) -> Response:
    context = context_of(request)
    email = form_text(form, "email").strip().lower()
    password = form_text(form, "password")
    target = safe_next(form_text(form, "next"))
    if not _sign_in_allowed(request, email):
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
        _count_failure(request, email)
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
    response = _signed_in_response(request, account.id, target)
    response.set_cookie(
        _device_cookie_name(request),
        _device_token(request, email),
        max_age=DEVICE_COOKIE_DAYS * 86400,
        path="/signin",
        httponly=True,
        samesite="strict",
        secure=context.settings.production,
    )
    return response


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
    # Hashed either way, so that both answers take as long.
    password_hash = hash_password(password)
    with suppress(_EmailTaken, IntegrityError), context.db.write() as conn:
        if find_account_by_email(conn, email) is not None:
            raise _EmailTaken
        account = create_account(conn, email=email, display_name=name, password_hash=password_hash)
        bonus = context.settings.signup_bonus_credits
        if bonus > 0:
            grant_credits(conn, account.id, bonus, provider="signup_bonus", note="sign-up bonus")
    # The same answer whether the email was new or not: no session here, the
    # owner of the password signs in next.
    return see_other("/signin?signed_up=1")


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
