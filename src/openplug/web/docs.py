"""``/docs``: Swagger UI for the API, served from openplug itself.

FastAPI's default page loads Swagger UI from a CDN, which left a blank
page on a machine without internet (a self-hoster's laptop on a train, a
locked-down network). The files come from ``fastapi-offline``, the
package that ships Swagger UI 5 (the first to read OpenAPI 3.1, which
FastAPI writes) for FastAPI apps, and the page is held to a policy that
lets it load nothing from anywhere else."""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse

from openplug.web.pages import PAGE_METHODS

ASSETS = "/docs/assets"
# Swagger UI's page starts it with one inline script (FastAPI writes it);
# everything else is from this server. It calls the API on this origin only.
_POLICY = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def install_docs(app: FastAPI) -> None:
    """Call on an app made with ``docs_url=None`` (FastAPI's CDN page off)."""
    assets = files("fastapi_offline") / "static"
    app.mount(ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.api_route("/docs", methods=PAGE_METHODS, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
        page.headers["Content-Security-Policy"] = _POLICY
        return page
