"""The web dashboard: same-origin pages for sign-in, keys, credits, history and models.

``install_dashboard(app)`` is called by ``create_app``; the API works without it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from songforge.dashboard.not_found import install_html_error_pages
from songforge.dashboard.payments import PaymentProvider, use_payment_provider
from songforge.dashboard.web import (
    PageError,
    SignInRequired,
    page_error_response,
    see_other,
    sign_in_redirect,
)

STATIC_DIR = Path(__file__).parent / "static"

__all__ = ["PaymentProvider", "install_dashboard", "use_payment_provider"]


def install_dashboard(app: FastAPI) -> None:
    from songforge.dashboard import (
        routes_account,
        routes_admin,
        routes_api,
        routes_auth,
        routes_models,
        routes_profile,
        routes_tasks,
    )

    for module in (
        routes_auth,
        routes_account,
        routes_profile,
        routes_tasks,
        routes_admin,
        routes_models,
        routes_api,
    ):
        app.include_router(module.router, include_in_schema=False)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")

    async def _sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        return sign_in_redirect(exc.next_path)

    async def _page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return page_error_response(request, exc)

    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(PageError, _page_error)
    install_html_error_pages(app)

    if not any(getattr(route, "path", None) == "/" for route in app.routes):

        @app.get("/", include_in_schema=False)
        def _home() -> Response:
            return see_other("/dashboard")
