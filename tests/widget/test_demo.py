"""The /demo site's fake login: same token path as a real backend, but its
users can never be a real site's users, and it leaves no tokens behind."""

from __future__ import annotations

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
