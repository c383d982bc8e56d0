"""Request plumbing for the dashboard: who is visiting, cookies, CSRF, rendering."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from songforge import __version__
from songforge.context import AppContext
from songforge.dashboard import csrf
from songforge.dashboard.sessions import (
    SESSION_LIFETIME,
    WebSession,
    load_session,
    needs_touch,
    touch_session,
)
from songforge.errors import ApiError, forbidden, unauthenticated
from songforge.services.accounts import Account, get_account

TEMPLATES_DIR = Path(__file__).parent / "templates"
API_PREFIX = "/dashboard/api/"

templates = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html", "svg"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(value: datetime | str | None) -> str:
    if value is None or value == "":
        return "—"
    moment = (
        datetime.fromisoformat(value.replace("Z", "+00:00")) if isinstance(value, str) else value
    )
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _number(value: int | float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(round(value), 60)
    return f"{minutes} min {seconds:02d} s"


templates.filters["when"] = _when
templates.filters["number"] = _number
templates.filters["seconds"] = _seconds

# Pages only load what this origin serves; no inline script, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'{media}; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'; object-src 'none'"
)


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageError(Exception):
    """An error shown to a person as an HTML page."""

    def __init__(
        self, status: int, title: str, message: str, *, link: tuple[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.message = message
        # (href, label) of the most useful next page, when there is a better one than home.
        self.link = link


@dataclass
class Visitor:
    account: Account | None
    session: WebSession | None
    # The random pre-session cookie of a visitor without a session.
    pre_session: str | None
    pre_session_is_new: bool = False

    @property
    def signed_in(self) -> bool:
        return self.account is not None and self.session is not None


@dataclass(frozen=True)
class SignedIn:
    account: Account
    session: WebSession


def context_of(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


def session_cookie_name(context: AppContext) -> str:
    # __Host- makes the browser refuse the cookie unless it is Secure, host-only
    # and path=/, which is only possible (and wanted) behind HTTPS.
    return "__Host-sf_session" if context.settings.production else "sf_session"


def pre_session_cookie_name(context: AppContext) -> str:
    return "__Host-sf_pre" if context.settings.production else "sf_pre"


def set_session_cookie(response: Response, context: AppContext, token: str) -> None:
    response.set_cookie(
        session_cookie_name(context),
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.settings.production,
    )
    response.delete_cookie(
        pre_session_cookie_name(context),
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.settings.production,
    )


def clear_session_cookie(response: Response, context: AppContext) -> None:
    response.delete_cookie(
        session_cookie_name(context),
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.settings.production,
    )


def _set_pre_session_cookie(response: Response, context: AppContext, value: str) -> None:
    response.set_cookie(
        pre_session_cookie_name(context),
        value,
        path="/",
        httponly=True,
        samesite="lax",
        secure=context.settings.production,
    )


def get_visitor(request: Request) -> Visitor:
    """The visitor of this request, resolved once (a sync dependency: runs off the loop)."""
    cached = getattr(request.state, "visitor", None)
    if isinstance(cached, Visitor):
        return cached
    context = context_of(request)
    token = request.cookies.get(session_cookie_name(context), "")
    session: WebSession | None = None
    account: Account | None = None
    if token:
        with context.db.read() as conn:
            session = load_session(conn, token)
            if session is not None:
                account = get_account(conn, session.account_id)
        if session is not None and account is not None and needs_touch(session):
            with context.db.write() as conn:
                touch_session(conn, session)
    if account is None:
        session = None
    pre = request.cookies.get(pre_session_cookie_name(context), "")
    visitor = Visitor(account=account, session=session, pre_session=pre or None)
    if visitor.session is None and not pre:
        visitor.pre_session = secrets.token_urlsafe(24)
        visitor.pre_session_is_new = True
    request.state.visitor = visitor
    return visitor


def csrf_token_for(request: Request, visitor: Visitor) -> str:
    if visitor.session is not None:
        return visitor.session.csrf_token
    secret = context_of(request).settings.resolved_secret_key()
    return csrf.anonymous_token(secret, visitor.pre_session or "")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX)


def require_user(request: Request) -> SignedIn:
    visitor = get_visitor(request)
    if visitor.account is None or visitor.session is None:
        if _is_api(request):
            raise unauthenticated("Sign in to the dashboard first")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(target)
    return SignedIn(account=visitor.account, session=visitor.session)


def require_admin(request: Request) -> SignedIn:
    user = require_user(request)
    if not user.account.is_admin:
        raise PageError(403, "Admins only", "This page is for the operator's administrators.")
    return user


def _csrf_failure(request: Request, why: str) -> Exception:
    if _is_api(request):
        return forbidden(f"CSRF check failed: {why}")
    return PageError(
        403,
        "Form expired",
        f"This form could not be accepted ({why}). Reload the page and try again.",
    )


def _check_csrf(request: Request, given: str | None) -> None:
    context = context_of(request)
    if not csrf.origin_allowed(request, context.settings.public_url):
        raise _csrf_failure(request, "the request came from another site")
    visitor = get_visitor(request)
    if visitor.session is None and visitor.pre_session_is_new:
        raise _csrf_failure(request, "no session cookie was sent")
    if not csrf.tokens_match(csrf_token_for(request, visitor), given):
        raise _csrf_failure(request, "the security token is missing or wrong")


async def read_form(request: Request) -> FormData:
    return await request.form(max_files=0, max_fields=100)


def checked_form(request: Request, form: Annotated[FormData, Depends(read_form)]) -> FormData:
    """The POSTed form, once its CSRF token is verified."""
    token = form.get("csrf_token")
    _check_csrf(request, token if isinstance(token, str) else None)
    return form


def checked_json_call(request: Request) -> None:
    """A fetch() call's CSRF token arrives in the X-CSRF-Token header."""
    _check_csrf(request, request.headers.get("x-csrf-token"))


CheckedForm = Annotated[FormData, Depends(checked_form)]
CurrentUser = Annotated[SignedIn, Depends(require_user)]
AdminUser = Annotated[SignedIn, Depends(require_admin)]
CsrfHeader = Annotated[None, Depends(checked_json_call)]
OptionalVisitor = Annotated[Visitor, Depends(get_visitor)]


def form_text(form: FormData, name: str, default: str = "") -> str:
    value = form.get(name)
    return value if isinstance(value, str) else default


def security_headers(context: AppContext) -> dict[str, str]:
    media = ""
    public = context.settings.public_url.rstrip("/")
    if public:
        media = f" {public}"
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY.format(media=media),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    context = context_of(request)
    visitor = get_visitor(request)
    names: dict[str, Any] = {
        "request_path": request.url.path,
        "visitor": visitor,
        "account": visitor.account,
        "csrf_token": csrf_token_for(request, visitor),
        "version": __version__,
    }
    names.update(values)
    page = templates.get_template(template).render(**names)
    response = HTMLResponse(page, status_code=status, headers=security_headers(context))
    if visitor.pre_session_is_new and visitor.pre_session:
        _set_pre_session_cookie(response, context, visitor.pre_session)
    return response


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def sign_in_redirect(next_path: str) -> RedirectResponse:
    return see_other(f"/signin?next={quote(next_path, safe='/')}")


def page_error_response(request: Request, exc: PageError) -> HTMLResponse:
    return render(
        request,
        "error.html",
        status=exc.status,
        title=exc.title,
        message=exc.message,
        link=exc.link,
    )


def api_error_for_page(exc: ApiError) -> PageError:
    return PageError(exc.status, "Request refused", exc.message)
