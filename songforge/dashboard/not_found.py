"""HTML error pages for browsers that reach an address with no page.

The API's handler answers every unmatched route in the JSON envelope, which is
right for API clients and unreadable in a browser. A request that asks for HTML
(browsers navigating send ``Accept: text/html``) outside the API's paths gets a
page instead; ``/api/...`` and the tester's ``/dashboard/api/...`` always keep
the envelope, whatever they accept.
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from songforge.dashboard.web import API_PREFIX, PageError, page_error_response

# Paths whose answers are always JSON envelopes, for machines.
JSON_ONLY_PREFIXES = ("/api/", API_PREFIX)


def wants_html(request: Request) -> bool:
    if request.url.path.startswith(JSON_ONLY_PREFIXES):
        return False
    return "text/html" in request.headers.get("accept", "").lower()


def _page_for(request: Request, status: int) -> PageError:
    path = request.url.path
    if status == 404:
        return PageError(
            404,
            "Page not found",
            f"There is no page at {path}. It may have moved, or the address may be mistyped.",
            link=("/models", "See the models"),
        )
    return PageError(
        405,
        "Not a page",
        f"{path} only accepts form submissions; open it from a button on the site.",
    )


def install_html_error_pages(app: FastAPI) -> None:
    """Wrap the API's HTTP error handler: HTML for browsers on 404 and 405, else unchanged."""
    previous = app.exception_handlers.get(StarletteHTTPException, http_exception_handler)

    async def _http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code in (404, 405) and wants_html(request):
            # Rendering reads the visitor's session from the database: off the event loop.
            page = _page_for(request, exc.status_code)
            response = await run_in_threadpool(page_error_response, request, page)
            if exc.status_code == 405 and exc.headers:
                response.headers.update(exc.headers)
            return response
        answer = previous(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, _http_error)
