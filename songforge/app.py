"""create_app(settings) -> the FastAPI application (API, operations routes, dashboard)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from songforge import __version__
from songforge.api import catalog, music, ops, task_files, tasks
from songforge.api.docs_page import install_docs_page
from songforge.api.error_handlers import install_error_handlers
from songforge.api.middleware import RequestContextMiddleware
from songforge.api.openapi import install_openapi
from songforge.api.operator_figures import read_figures
from songforge.api.proxies import TrustedProxies
from songforge.context import AppContext
from songforge.db.migrate import upgrade_to_head
from songforge.settings import Settings

OPENAPI_URL = "/api/openapi.json"
# FastAPI's native OpenTelemetry, unless asked for (Settings.opentelemetry).
TELEMETRY_OFF: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(settings: Settings | None = None, *, context: AppContext | None = None) -> FastAPI:
    settings = settings or Settings()
    if settings.production and (problems := settings.insecure_for_production()):
        raise RuntimeError("refusing to start in production mode: " + "; ".join(problems))
    context = context or AppContext.from_settings(settings)
    upgrade_to_head(context.db)
    context.metrics.watch_figures(lambda: read_figures(context))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        context.start_listening()
        yield
        context.invalidation.close()
        await context.db.close_async()
        context.db.dispose()

    app = FastAPI(
        title="songforge",
        version=__version__,
        description="Self-hostable music generation, wire-compatible with MiniMax Music routes.",
        lifespan=lifespan,
        # /api/docs is served from installed files (api/docs_page.py), not a CDN.
        docs_url=None,
        redoc_url=None,
        openapi_url=OPENAPI_URL,
        telemetry=None if settings.opentelemetry else TELEMETRY_OFF,
    )
    app.state.context = context
    install_error_handlers(app)
    for module in (music, tasks, catalog, ops, task_files):
        app.include_router(module.router)
    # First in the routing table: Starlette tries routes in order, and these two
    # are most of the traffic. A path match with another method is only partial,
    # so they shadow nothing.
    app.router.routes[0:0] = [*music.routes, *tasks.routes]
    install_openapi(app, context.catalog)
    install_docs_page(app, OPENAPI_URL)
    _include_dashboard(app)
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.max_body_bytes,
        metrics=context.metrics,
        hsts=settings.production,
        proxies=TrustedProxies(settings.trusted_proxies),
    )
    return app


def _include_dashboard(app: FastAPI) -> None:
    # The dashboard is a separate package; the API works without it.
    try:
        from songforge.dashboard import install_dashboard
    except ImportError:
        return
    install_dashboard(app)
