"""CSRF defences: a per-session token on every POST, plus an Origin check.

Signed-in visitors send their session's random token. Visitors without a
session (the sign-in and sign-up forms) get a random pre-session cookie and send
an HMAC of it, so an attacker's page can neither read nor forge the value and a
login-CSRF ("sign the victim into my account") fails too.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.requests import Request


def anonymous_token(secret: str, pre_session: str) -> str:
    message = f"dashboard-csrf:{pre_session}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def origin_allowed(request: Request, public_url: str) -> bool:
    """False when the browser says the request came from another site.

    Browsers send Origin on every cross-site POST; its absence (old clients,
    privacy settings) leaves the decision to the token.
    """
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True
        origin = referer
    if origin == "null":
        return False
    claimed = urlsplit(origin).netloc.lower()
    allowed = {request.headers.get("host", "").lower()}
    if public_url:
        allowed.add(urlsplit(public_url).netloc.lower())
    return claimed in allowed
