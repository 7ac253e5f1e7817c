"""``GET /demo``: a sample website with a fake login that embeds the widget
with the spec's snippet, exactly as a customer's site would.

Its "backend" (``POST /demo/login``) does what a real site's backend does:
it exchanges the demo app's AAT and the visitor's details for a session
token, through the same ``create_token`` as ``auth-tokens.create``. The
bootstrap AAT was shown once and only its digest is stored, so the demo
acts with an AAT that exists only in this process's memory (no row, so
nothing piles up in the token list, and nothing a browser ever sees).

Anyone may log in to the demo as anyone, so its users are kept apart from
real ones: their ``user_ref`` is ``demo:<email>``, which no real site's
user can collide with, and a fake login can never rename or re-trait a
real customer. ``OPENPLUG_DEMO=false`` turns the demo off altogether.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import Field, ValidationError

from openplug.audit import SYSTEM
from openplug.crm.fields import Strict
from openplug.db.base import utcnow
from openplug.errors import NotFound
from openplug.identity import access_tokens as tokens
from openplug.identity.apps import App, list_apps
from openplug.identity.principals import Principal
from openplug.identity.schemas import AuthTokensCreateRequest
from openplug.identity.token_service import create_token
from openplug.runtime import Runtime
from openplug.web.client_address import client_address
from openplug.web.csp import source_list
from openplug.web.deps import RuntimeDep
from openplug.web.pages import PAGE_METHODS
from openplug.web.validation import raise_validation_error

router = APIRouter(tags=["demo"], include_in_schema=False)

DEMO_APP_NAME = "Demo"
DEMO_AAT_HINT = "demo page (in-process)"
DEMO_USER_PREFIX = "demo:"

# The spec's snippet, verbatim but for the host and the app id: a loader
# script and an inline one, which the page's policy allows by its hash.
LOADER = """<script type="text/javascript" src="{base}/static/plug.js"></script>"""
INIT_SCRIPT = """
  (() => {{
    window.plugSDK.init({{
      app_id: '{app_id}',
      session_token: sessionToken   // made by the site's backend; omit for anonymous visitors
    }})
  }})();
"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Shop: openplug demo</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/demo/demo.css">
</head>
<body>
<header class="top">
  <a class="brand" href="/demo" aria-label="Acme Shop, home">
    <svg class="logo" width="32" height="32" viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="8" fill="#0f766e"/>
      <path d="M9 23l7-15 7 15M12 17h8" stroke="#fff" stroke-width="3" fill="none"
        stroke-linecap="round" stroke-linejoin="round"/>
    </svg>
    <span>Acme Shop</span>
  </a>
  <nav class="account" aria-label="Your account">
    <p id="who" role="status">You are browsing anonymously.</p>
    <button id="logout" type="button" class="link" hidden>Log out</button>
    <span class="cart" aria-live="polite">Cart: <b id="cart-count">0</b></span>
  </nav>
</header>
<main>
  <section class="hero">
    <h1>Good things for your desk</h1>
    <p>A sample shop embedding the openplug widget. Chat anonymously with the
    button at the bottom right, then log in: your conversation moves to your
    account and follows you to any browser where you log in with the same email.</p>
  </section>
  <section aria-labelledby="products-heading">
    <h2 id="products-heading">Products</h2>
    <ul class="products">
      <li class="product"><span class="swatch s1" aria-hidden="true"></span>
        <h3>Walnut monitor stand</h3><p class="price">&euro;89</p>
        <button type="button" class="add">Add to cart</button></li>
      <li class="product"><span class="swatch s2" aria-hidden="true"></span>
        <h3>Wool desk mat</h3><p class="price">&euro;34</p>
        <button type="button" class="add">Add to cart</button></li>
      <li class="product"><span class="swatch s3" aria-hidden="true"></span>
        <h3>Brass pen holder</h3><p class="price">&euro;19</p>
        <button type="button" class="add">Add to cart</button></li>
    </ul>
  </section>
  <section class="login-box" aria-labelledby="login-heading">
    <h2 id="login-heading">Your account</h2>
    <form id="login">
      <p class="hint">Any name and email will do: this is a demo.</p>
      <label>Name <input name="name" required maxlength="100" autocomplete="name"></label>
      <label>Email
        <input name="email" type="email" required maxlength="200" autocomplete="email"></label>
      <button type="submit" class="primary">Log in</button>
    </form>
  </section>
  <section aria-labelledby="snippet-heading">
    <h2 id="snippet-heading">The snippet on this page</h2>
    <pre class="snippet"><code>{snippet_text}</code></pre>
  </section>
</main>
<footer class="foot">Acme Shop is not a real shop. Support chat by openplug.</footer>
<script src="/static/demo/demo.js"></script>
{snippet}
</body>
</html>
"""


class DemoLogin(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: Annotated[str, Field(min_length=3, max_length=200)]


async def _demo_app(runtime: Runtime) -> App:
    if not runtime.settings.demo:
        raise NotFound("the demo is turned off on this server (OPENPLUG_DEMO=false)")
    async with runtime.db.read() as conn:
        found = [a for a in await list_apps(conn) if a.name == DEMO_APP_NAME]
    if not found:
        raise NotFound("this server has no demo app")
    return found[0]


def _demo_principal(app: App) -> Principal:
    """The demo backend's AAT for the demo app, never stored or shown."""
    now = utcnow()
    aat = tokens.AccessToken(
        pk=0, token_id="demo", kind="aat", token_hint=DEMO_AAT_HINT, dev_user_id=0,
        app_pk=app.pk, app_id=app.app_id, created_at=now, expires_at=now + timedelta(days=1),
        revoked_at=None, last_used_at=now,
    )  # fmt: skip
    return Principal("aat", access_token=aat)


@router.api_route("/demo", methods=PAGE_METHODS, response_class=HTMLResponse)
async def demo_page(runtime: RuntimeDep) -> HTMLResponse:
    """The sample shop. Its URLs come from ``OPENPLUG_PUBLIC_URL``, never from
    the request's ``Host`` (which a client, or a cache in front of the server,
    chooses), and it is served with a policy that runs only the server's
    scripts and the snippet's own inline code."""
    app = await _demo_app(runtime)
    base = runtime.settings.resolved_public_url()
    init = INIT_SCRIPT.format(app_id=app.app_id)
    snippet = f"{LOADER.format(base=base)}\n<script>{init}</script>"
    page = _PAGE.format(snippet=snippet, snippet_text=escape(snippet))
    return HTMLResponse(page, headers=demo_security_headers(base, init))


def demo_security_headers(public_url: str, inline_script: str) -> dict[str, str]:
    """Scripts from the server only (this page's origin, and the public URL's
    when browsers reach the server by another name) plus the one inline
    script, by its SHA-256; the chat frame from the server only; nothing
    else loads, and no other page may frame this one."""
    parts = urlsplit(public_url)
    server = source_list([f"{parts.scheme}://{parts.netloc}".lower()])
    server = f" {server}" if server else ""
    digest = base64.b64encode(hashlib.sha256(inline_script.encode()).digest()).decode()
    policy = (
        f"default-src 'none'; script-src 'self'{server} 'sha256-{digest}'; "
        f"style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'{server}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


@router.post("/demo/login")
async def demo_login(runtime: RuntimeDep, request: Request, body: DemoLogin) -> dict[str, Any]:
    """The fake login: any name and email. Returns a session token made
    with the demo app's AAT, as a site's backend would render it. Counted
    per client address (``OPENPLUG_DEMO_LOGINS_PER_ADDRESS_PER_HOUR``):
    each login mints a token and may create a rev user, for anyone."""
    app = await _demo_app(runtime)
    await runtime.demo_logins.admit(
        client_address(request), "too many demo logins from this address; try again later"
    )
    traits = {"email": body.email.strip(), "display_name": body.name.strip()}
    user_ref = DEMO_USER_PREFIX + traits["email"].lower()
    try:
        req = AuthTokensCreateRequest.model_validate(
            {"rev_info": {"user_ref": user_ref, "user_traits": traits}}
        )
    except ValidationError as e:
        raise_validation_error(e)
    token = await create_token(runtime, _demo_principal(app), req, actor=SYSTEM)
    return {"session_token": token.access_token, "display_name": traits["display_name"]}
