"""``GET /demo``: a sample website with a fake login that embeds the widget
with the spec's snippet, exactly as a customer's site would.

Its "backend" (``POST /demo/login``) does what a real site's backend does:
it exchanges an AAT and the visitor's details for a session token, through
the same code path as ``auth-tokens.create``. The bootstrap AAT was shown
once and only its digest is stored, so this process issues its own AAT for
the demo app on the first login (hint "demo page (in-process)", valid one
day; a restart issues a new one, which shows in ``openplug tokens list``).
The AAT stays in server memory: the browser only ever sees session tokens.
"""

from __future__ import annotations

import asyncio
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import Field, ValidationError

from openplug.crm.fields import Strict
from openplug.errors import NotFound
from openplug.identity import access_tokens as tokens
from openplug.identity.apps import App, list_apps
from openplug.identity.dev_users import list_dev_users
from openplug.identity.principals import authenticate
from openplug.identity.schemas import AuthTokensCreateRequest
from openplug.identity.token_service import create_token
from openplug.runtime import Runtime
from openplug.web.deps import RuntimeDep
from openplug.web.validation import raise_validation_error

router = APIRouter(tags=["demo"], include_in_schema=False)

DEMO_APP_NAME = "Demo"
DEMO_AAT_HINT = "demo page (in-process)"

# The spec's snippet, verbatim but for the host and the app id.
SNIPPET = """<script type="text/javascript" src="{base}/static/plug.js"></script>
<script>
  (() => {{
    window.plugSDK.init({{
      app_id: '{app_id}',
      session_token: sessionToken   // made by the site's backend; omit for anonymous visitors
    }})
  }})();
</script>"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme Shop: openplug demo</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 2rem auto;
         padding: 0 1rem; }}
  form {{ display: grid; gap: .5rem; max-width: 20rem; }}
  pre {{ background: #f3f4f6; padding: 1rem; overflow-x: auto; font-size: 13px; }}
</style>
</head>
<body>
<h1>Acme Shop</h1>
<p>A sample website embedding the openplug widget. Chat anonymously with the
button at the bottom right, then log in: your conversation moves to your
account and follows you to any browser where you log in with the same email.</p>
<p id="who" role="status">You are browsing anonymously.</p>
<form id="login">
  <label>Name <input name="name" required maxlength="100" autocomplete="name"></label>
  <label>Email
    <input name="email" type="email" required maxlength="200" autocomplete="email"></label>
  <button type="submit">Log in</button>
</form>
<button id="logout" type="button" hidden>Log out</button>
<h2>The snippet on this page</h2>
<pre><code>{snippet_text}</code></pre>
<script src="/static/demo/demo.js"></script>
{snippet}
</body>
</html>
"""


class DemoLogin(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: Annotated[str, Field(min_length=3, max_length=200)]


async def _demo_app(runtime: Runtime) -> App:
    async with runtime.db.read() as conn:
        found = [a for a in await list_apps(conn) if a.name == DEMO_APP_NAME]
    if not found:
        raise NotFound("this server has no demo app")
    return found[0]


_aat_lock = asyncio.Lock()


async def _demo_aat(request: Request, runtime: Runtime, app: App) -> str:
    state = request.app.state
    async with _aat_lock:
        aat: str | None = getattr(state, "demo_aat", None)
        if aat is None:
            async with runtime.db.write() as conn:
                admin = next(u for u in await list_dev_users(conn) if u.role == "admin")
                aat, _ = await tokens.issue_access_token(
                    conn, runtime.secrets.token_pepper, kind="aat", dev_user_id=admin.pk,
                    app_pk=app.pk, expires_in_days=1, token_hint=DEMO_AAT_HINT,
                )  # fmt: skip
            state.demo_aat = aat
        return aat


@router.get("/demo", response_class=HTMLResponse)
async def demo_page(request: Request, runtime: RuntimeDep) -> HTMLResponse:
    app = await _demo_app(runtime)
    base = str(request.base_url).rstrip("/")
    snippet = SNIPPET.format(base=base, app_id=app.app_id)
    return HTMLResponse(_PAGE.format(snippet=snippet, snippet_text=escape(snippet)))


@router.post("/demo/login")
async def demo_login(request: Request, runtime: RuntimeDep, body: DemoLogin) -> dict[str, Any]:
    """The fake login: any name and email. Returns a session token made
    with the demo app's AAT, as a site's backend would render it."""
    app = await _demo_app(runtime)
    principal = await authenticate(runtime, await _demo_aat(request, runtime, app))
    traits = {"email": body.email.strip(), "display_name": body.name.strip()}
    try:
        req = AuthTokensCreateRequest.model_validate(
            {"rev_info": {"user_ref": traits["email"].lower(), "user_traits": traits}}
        )
    except ValidationError as e:
        raise_validation_error(e)
    token = await create_token(runtime, principal, req)
    return {"session_token": token.access_token, "display_name": traits["display_name"]}
