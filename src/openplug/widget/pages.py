"""The widget's browser side: the static files (``/static/plug.js``, the
frame's JS and CSS) and the chat frame page ``GET /widget/frame``.

The frame is the only page that ever holds a visitor's token. It is served
with ``Content-Security-Policy: frame-ancestors <the app's allowed
origins>``, so a browser refuses to show it inside any other site, and with
a strict script policy (own scripts only, no inline code), so even a
message body that slipped past ``textContent`` could not run. Only the
public ``app_id`` is in its URL; tokens arrive by ``postMessage``.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from openplug.errors import NotFound
from openplug.identity.apps import get_app
from openplug.web.csp import source_list
from openplug.web.deps import RuntimeDep
from openplug.web.pages import PAGE_METHODS
from openplug.web.routing import include_flat
from openplug.widget.demo import router as demo_router
from openplug.widget.loader import LOADER

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(tags=["widget pages"], include_in_schema=False)

_FRAME_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Support chat</title>
<link rel="stylesheet" href="/static/widget/frame.css">
<script id="plug-config" type="application/json">{config}</script>
<script src="/static/widget/files.js" defer></script>
<script src="/static/widget/frame.js" defer></script>
</head>
<body>
<noscript>The support chat needs JavaScript.</noscript>
</body>
</html>
"""


def frame_security_headers(allowed_origins: list[str]) -> dict[str, str]:
    ancestors = source_list(allowed_origins) or "'none'"
    policy = (
        f"frame-ancestors {ancestors}; default-src 'none'; script-src 'self'; "
        "style-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


@router.api_route("/widget/frame", methods=PAGE_METHODS, response_class=HTMLResponse)
async def widget_frame(
    runtime: RuntimeDep, app_id: str = Query(min_length=1, max_length=64)
) -> HTMLResponse:
    """The chat UI for one app, to be embedded by ``plug.js`` only."""
    try:
        async with runtime.db.read() as conn:
            app = await get_app(conn, app_id)
    except NotFound:
        headers = frame_security_headers([])
        return HTMLResponse(f"<p>Unknown app {escape(app_id)}</p>", 404, headers=headers)
    config = {
        "app_id": app.app_id,
        "allowed_origins": app.allowed_origins,
        "require_identification": app.require_identification,
    }
    # In a <script> block only "</" could end it early; \u003c keeps it JSON.
    text = json.dumps(config).replace("<", "\\u003c")
    return HTMLResponse(
        _FRAME_PAGE.format(config=text), headers=frame_security_headers(app.allowed_origins)
    )


@router.api_route("/static/plug.js", methods=PAGE_METHODS)
async def plug_js(request: Request) -> Response:
    """The loader, minified (and gzipped when the browser takes it)."""
    return LOADER.response(request)


def install_widget_pages(app: FastAPI) -> None:
    """The frame page, the demo site and ``/static`` (the loader and the
    frame's files)."""
    include_flat(app, router)
    include_flat(app, demo_router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
