"""The /demo site's fake login: same token path as a real backend, but its
users can never be a real site's users, and it leaves no tokens behind."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx

from tests.conftest import ServerFactory
from tests.live_server import LiveServer

AAT_LIST = {"requested_token_type": "urn:devrev:params:oauth:token-type:aat"}


def test_demo_login_makes_a_demo_user_and_no_stored_token(server: LiveServer) -> None:
    with server.client(server.pat) as agent:
        tokens_before = [
            t["id"] for t in agent.post("/auth-tokens.list", json=AAT_LIST).json()["tokens"]
        ]
        # A real customer, identified by a real site's backend.
        real = server.client(server.aat).post(
            "/auth-tokens.create",
            json={"rev_info": {"user_ref": "ceo@bigcorp.example",
                               "user_traits": {"display_name": "The CEO"}}},
        )  # fmt: skip
        assert real.status_code == 201
        for _ in range(2):
            r = server.client().post(
                "/demo/login", json={"name": "Mallory", "email": "CEO@bigcorp.example"}
            )
            assert r.status_code == 200, r.text
        token = r.json()["session_token"]
        users = agent.get("/rev-users.list").json()["rev_users"]
        by_ref = {u["external_ref"]: u["display_name"] for u in users}
        assert by_ref == {"ceo@bigcorp.example": "The CEO", "demo:ceo@bigcorp.example": "Mallory"}
        tokens_after = agent.post("/auth-tokens.list", json=AAT_LIST).json()["tokens"]
        assert [t["id"] for t in tokens_after] == tokens_before
    with server.client(token) as visitor:
        r = visitor.post("/widget/conversations.list", json={"app_id": server.app_id})
        assert r.status_code == 200, r.text


def test_the_demo_can_be_turned_off(make_server: ServerFactory) -> None:
    server = make_server(demo=False)
    with server.client() as c:
        assert c.get("/demo").status_code == 404
        r = c.post("/demo/login", json={"name": "A", "email": "a@example.com"})
        assert r.status_code == 404
        assert "OPENPLUG_DEMO" in r.json()["message"]


def test_demo_logins_are_limited_per_address(make_server: ServerFactory) -> None:
    server = make_server(demo_logins_per_address_per_hour=2)
    login = {"name": "Mallory", "email": "mallory@example.com"}
    with server.client() as c:
        for _ in range(2):
            assert c.post("/demo/login", json=login).status_code == 200
        r = c.post("/demo/login", json={"name": "Eve", "email": "eve@example.com"})
        assert r.status_code == 429, r.text
        assert r.json()["type"] == "too_many_requests"
        assert "address" in r.json()["message"]
        assert int(r.headers["retry-after"]) == r.json()["retry_after"] > 0
    # Another address still logs in.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=server.base_url, transport=transport) as elsewhere:
        assert elsewhere.post("/demo/login", json=login).status_code == 200


def _inline_scripts(html: str) -> list[str]:
    return re.findall(r"<script>(.*?)</script>", html, flags=re.S)


def test_demo_page_urls_come_from_the_public_url_not_the_host_header(server: LiveServer) -> None:
    public = server.settings.resolved_public_url()
    with server.client() as c:
        r = c.get("/demo", headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"})
    assert r.status_code == 200
    assert "evil.example" not in r.text and "evil.example" not in str(r.headers)
    assert f'<script type="text/javascript" src="{public}/static/plug.js"></script>' in r.text


def test_demo_page_has_a_strict_content_security_policy(server: LiveServer) -> None:
    public = server.settings.resolved_public_url()
    with server.client() as c:
        r = c.get("/demo")
    policy = {
        d.split()[0]: d.split()[1:]
        for d in (part.strip() for part in r.headers["content-security-policy"].split(";"))
        if d
    }
    assert policy["default-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["frame-src"] == ["'self'", public]
    assert policy["style-src"] == ["'self'"]
    scripts = policy["script-src"]
    assert scripts[:2] == ["'self'", public]
    assert not any("unsafe" in s for values in policy.values() for s in values)
    # The one inline script (the snippet's init call) runs by its hash, and
    # there is no other: nothing a visitor types is ever in this page.
    (inline,) = _inline_scripts(r.text)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert scripts[2:] == [f"'sha256-{digest}'"]
    assert r.headers["x-content-type-options"] == "nosniff"
