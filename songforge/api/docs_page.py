"""/api/docs: Swagger UI from files installed with the package, never from a CDN.

A self-hosted server is often on a network without internet; FastAPI's default
page loads Swagger UI from a CDN and is blank there. The ``swagger-ui-bundle-v2``
package ships the Swagger UI distribution (5.x, which reads OpenAPI 3.1).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path

DOCS_PATH = "/api/docs"
ASSETS_PATH = "/api/docs/assets"


def install_docs_page(app: FastAPI, openapi_url: str) -> None:
    app.mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_path)), name="swagger-ui")

    @app.get(DOCS_PATH, include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PATH}/favicon-32x32.png",
            # No badge from the public validator service: nothing leaves the machine.
            swagger_ui_parameters={"validatorUrl": None},
        )
