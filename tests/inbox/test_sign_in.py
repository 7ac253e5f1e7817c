"""Agents signing in to the inbox: the cookie, what it may and may not be
used for, sign-out, throttling, and the inbox socket."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import pytest
from websockets.asyncio.client import connect

from openplug.identity.agent_sessions import COOKIE_NAME, CSRF_HEADER
from openplug.realtime import CloseCode
from openplug.runtime import SIGN_IN_FAILURES as MAX_FAILURES
from tests.live_server import LiveServer
from tests.realtime.test_sockets import WAIT, Client, ws_url
from tests.test_cli import run

INBOX = {CSRF_HEADER: "1"}


@contextmanager
def signed_in(server: LiveServer) -> Iterator[httpx.Client]:
    """A client holding the admin's sign-in cookie, as the inbox page does."""
    assert server.first is not None
    with server.client() as client:
        credentials = {"email": server.first.admin_email, "password": server.admin_password}
        r = client.post("/inbox/sign-in", json=credentials)
        assert r.status_code == 200, r.text
        yield client


def test_sign_in_sets_an_httponly_strict_cookie_that_acts_for_the_agent(
    server: LiveServer,
) -> None:
    with server.client() as c:
        r = c.post(
            "/inbox/sign-in",
            json={"email": "ADMIN@example.com", "password": server.admin_password},
        )
        assert r.status_code == 200, r.text
        assert r.json()["agent"]["email"] == "admin@example.com"
        assert r.json()["agent"]["role"] == "admin"
        set_cookie = r.headers["set-cookie"]
        assert set_cookie.startswith(f"{COOKIE_NAME}=opl_web_")
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
        assert server.admin_password not in set_cookie

        me = c.get("/inbox/me", headers=INBOX)
        assert me.status_code == 200, me.text
        assert me.json()["agent"]["display_name"] == "Admin"
        # The ordinary agent API accepts the sign-in, AAT creation included.
        assert c.post("/conversations.list", json={}, headers=INBOX).status_code == 200
        created = c.post(
            "/auth-tokens.create",
            json={"requested_token_type": "urn:devrev:params:oauth:token-type:aat"},
            headers=INBOX,
        )
        assert created.status_code == 201, created.text
    identify = server.client(created.json()["access_token"]).post(
        "/auth-tokens.create", json={"rev_info": {"user_ref": "via-settings@example.com"}}
    )
    assert identify.status_code == 201


def test_the_cookie_alone_is_refused_so_other_sites_cannot_use_it(server: LiveServer) -> None:
    with signed_in(server) as c:
        r = c.post("/conversations.list", json={})
        assert r.status_code == 401
        assert CSRF_HEADER in r.json()["message"]
        r = c.get("/inbox/me", headers={CSRF_HEADER: "yes"})
        assert r.status_code == 401


def test_the_sign_in_is_not_a_pat_for_the_widget_or_identify(server: LiveServer) -> None:
    with signed_in(server) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "x"}}, headers=INBOX)
        assert r.status_code == 403
        assert "an inbox sign-in" in r.json()["message"]


@pytest.mark.parametrize(
    ("email", "password"),
    [("admin@example.com", "not-the-password"), ("nobody@example.com", "whatever-it-is")],
)
def test_wrong_email_or_password_get_the_same_answer(
    server: LiveServer, email: str, password: str
) -> None:
    with server.client() as c:
        r = c.post("/inbox/sign-in", json={"email": email, "password": password})
        assert r.status_code == 401
        assert r.json() == {"type": "unauthenticated", "message": "wrong email or password"}
        assert "set-cookie" not in r.headers


def test_sign_in_rejects_missing_fields_by_name(server: LiveServer) -> None:
    with server.client() as c:
        r = c.post("/inbox/sign-in", json={"email": "admin@example.com"})
    assert r.status_code == 400
    assert r.json()["field_name"] == "password"


def test_repeated_failures_are_throttled_per_email(server: LiveServer) -> None:
    wrong = {"email": "admin@example.com", "password": "guess-guess-guess"}
    with server.client() as c:
        for _ in range(MAX_FAILURES):
            assert c.post("/inbox/sign-in", json=wrong).status_code == 401
        r = c.post(
            "/inbox/sign-in", json={"email": "admin@example.com", "password": server.admin_password}
        )
        assert r.status_code == 429
        assert r.json()["type"] == "too_many_requests"
        assert int(r.headers["retry-after"]) == r.json()["retry_after"] > 0
        # Another agent's sign-in is not affected.
        other = c.post("/inbox/sign-in", json={"email": "x@example.com", "password": "p" * 12})
        assert other.status_code == 401


def test_sign_out_revokes_the_sign_in_for_good(server: LiveServer) -> None:
    with signed_in(server) as c:
        secret = c.cookies[COOKIE_NAME]
        r = c.post("/inbox/sign-out")
        assert r.status_code == 200
        assert COOKIE_NAME not in c.cookies
    # A copy of the cookie taken before signing out is worthless now.
    with server.client() as c:
        c.cookies.set(COOKIE_NAME, secret)
        r = c.get("/inbox/me", headers=INBOX)
        assert r.status_code == 401
        assert "revoked" in r.json()["message"]


@asynccontextmanager
async def cookie_socket(server: LiveServer, cookie: str, origin: str) -> AsyncIterator[Client]:
    """The inbox socket as the page opens it: the cookie, no token."""
    headers = {"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": origin}
    async with connect(ws_url(server, "/inbox/socket"), additional_headers=headers,
                       open_timeout=WAIT) as ws:  # fmt: skip
        client = Client(ws)
        await client.send(type="auth")
        yield client


async def test_the_inbox_socket_uses_the_cookie_only_from_the_servers_own_origin(
    server: LiveServer,
) -> None:
    with signed_in(server) as c:
        cookie = c.cookies[COOKIE_NAME]
    async with cookie_socket(server, cookie, server.base_url) as client:
        await client.until(type="ready")
        await client.subscribe("inbox")
    async with cookie_socket(server, cookie, "http://evil.example") as client:
        assert await client.closed_with() == CloseCode.UNAUTHORIZED


def test_cli_sets_a_password_that_signs_in(server: LiveServer) -> None:
    data_dir = server.settings.data_dir
    created = run(data_dir, "agents", "create", "--email", "agent@example.com", "--json")
    assert created.returncode == 0, created.stderr
    password = json.loads(created.stdout)["password"]
    with server.client() as c:
        r = c.post("/inbox/sign-in", json={"email": "agent@example.com", "password": password})
        assert r.status_code == 200, r.text
        assert r.json()["agent"]["role"] == "agent"
    short = run(data_dir, "agents", "set-password", "agent@example.com", input="short\nshort\n")
    assert short.returncode == 2
    assert "at least 12 characters" in short.stderr
    chosen = run(data_dir, "agents", "set-password", "agent@example.com",
                 input="a long passphrase\na long passphrase\n")  # fmt: skip
    assert chosen.returncode == 0, chosen.stderr
    with server.client() as c:
        r = c.post(
            "/inbox/sign-in", json={"email": "agent@example.com", "password": "a long passphrase"}
        )
        assert r.status_code == 200, r.text


async def test_signing_out_closes_the_inbox_sockets_of_that_sign_in(server: LiveServer) -> None:
    with signed_in(server) as c:
        async with cookie_socket(server, c.cookies[COOKIE_NAME], server.base_url) as client:
            await client.until(type="ready")
            await client.subscribe("inbox")
            assert c.post("/inbox/sign-out").status_code == 200
            assert await client.closed_with() == CloseCode.CREDENTIAL_REVOKED
