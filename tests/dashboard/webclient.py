"""A browser-like HTTP client for dashboard tests: cookies, CSRF tokens from pages."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]*)"')
PASSWORD = "correct horse battery staple"


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:10]}@example.com"


class WebClient:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.email = ""

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> WebClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.get(path, **kwargs)

    def token(self, page: str = "/dashboard/keys") -> str:
        response = self.http.get(page)
        assert response.status_code == 200, (page, response.status_code, response.text[:300])
        match = CSRF_META.search(response.text)
        assert match, f"no CSRF token on {page}"
        return match.group(1)

    def post_form(
        self, path: str, data: dict[str, Any] | None = None, *, token_page: str = "/dashboard/keys"
    ) -> httpx.Response:
        fields = {"csrf_token": self.token(token_page), **(data or {})}
        return self.http.post(path, data=fields)

    def sign_up(self, email: str | None = None, password: str = PASSWORD) -> httpx.Response:
        """Sign up, then sign in as a person does (sign-up itself starts no session:
        its answer must not tell whether the email was new); the last answer."""
        response = self.sign_up_only(email, password)
        if response.status_code != 303:
            return response
        return self.sign_in(self.email, password)

    def sign_up_only(self, email: str | None = None, password: str = PASSWORD) -> httpx.Response:
        self.email = email or new_email()
        return self.post_form(
            "/signup", {"email": self.email, "password": password}, token_page="/signup"
        )

    def sign_in(self, email: str, password: str = PASSWORD, next: str = "") -> httpx.Response:
        self.email = email
        return self.post_form(
            "/signin",
            {"email": email, "password": password, "next": next},
            token_page="/signin",
        )

    def api_post(self, path: str, body: Any, *, token: str | None = None) -> httpx.Response:
        headers = {"X-CSRF-Token": token if token is not None else self.token("/dashboard")}
        return self.http.post(path, json=body, headers=headers)

    def account_id(self, server: Any) -> str:
        from songforge.services.accounts import find_account_by_email

        with server.db.read() as conn:
            account = find_account_by_email(conn, self.email)
        assert account is not None
        return account.id
