"""The inbox's pages: one HTML shell for the inbox and the settings pages
(the script reads the path), and their static files under
``/static/inbox``.

The shell carries no data and no credential; the script asks ``/inbox/me``
who is signed in. The page is served with a strict policy: scripts and
styles only from this server, no inline code, never framed, so text that
visitors typed (names, messages, traits) can only ever be text.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from openplug.web.pages import PAGE_METHODS
from openplug.web.routing import include_flat

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(tags=["inbox pages"], include_in_schema=False)

_SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="same-origin">
<title>openplug inbox</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/inbox/inbox.css">
<script type="module" src="/static/inbox/app.js"></script>
</head>
<body>
<div id="app" aria-live="polite"><p class="loading">Loading…</p></div>
<noscript>The inbox needs JavaScript.</noscript>
</body>
</html>
"""

_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

SETTINGS_SECTIONS = ("tokens", "apps", "attributes", "tags", "audit", "email")


def _shell() -> HTMLResponse:
    return HTMLResponse(_SHELL, headers=_HEADERS)


@router.api_route("/inbox", methods=PAGE_METHODS, response_class=HTMLResponse)
async def inbox_page() -> HTMLResponse:
    return _shell()


@router.api_route("/inbox/settings", methods=PAGE_METHODS, response_class=HTMLResponse)
async def settings_page() -> HTMLResponse:
    return _shell()


@router.api_route("/inbox/settings/{section}", methods=PAGE_METHODS, response_class=HTMLResponse)
async def settings_section_page(section: str) -> HTMLResponse:
    if section not in SETTINGS_SECTIONS:
        return HTMLResponse("<p>No such settings page.</p>", 404, headers=_HEADERS)
    return _shell()


def install_inbox_pages(app: FastAPI) -> None:
    """Before the widget's ``/static`` mount, which would shadow this one."""
    include_flat(app, router)
    app.mount("/static/inbox", StaticFiles(directory=STATIC_DIR), name="inbox-static")
