"""The chat frame's reaction when the server closes its socket because the
session token stopped working: in headless Chromium, like tests/e2e (whose
fixtures these are)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx

from openplug.realtime import credential_topic
from tests.e2e.conftest import HostSite, browser, host_site, session_token, widget_server
from tests.e2e.test_widget import context, host_page, open_widget, page_url, wait_event
from tests.helpers import jwt_claims
from tests.live_server import LiveServer

__all__ = ["browser", "context", "host_site", "widget_server"]  # fixtures used here


def wait_until_subscribed(server: LiveServer, topic: str) -> None:
    """The frame's socket has authenticated: the server holds its
    subscription (a condition polled across threads, not a delay)."""
    assert server.runtime is not None
    broker: Any = server.runtime.broker
    deadline = time.monotonic() + 10
    while broker.subscriber_count(topic) == 0:
        assert time.monotonic() < deadline, f"no socket subscribed to {topic}"
        time.sleep(0.01)


def test_revoked_sessions_close_the_socket_and_emit_session_expired(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    token = session_token(widget_server, f"revoked-live-{secrets.token_hex(4)}")
    user_id = jwt_claims(token)["sub"]
    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server, token)))
    frame = open_widget(page)
    wait_until_subscribed(widget_server, credential_topic("rev_user", jwt_claims(token)["uid"]))
    calls: list[str] = []
    page.on("request", lambda r: calls.append(r.url) if "/widget/" in r.url else None)

    r = httpx.post(
        f"{widget_server.base_url}/rev-users.revoke-sessions",
        headers={"Authorization": widget_server.pat},
        json={"id": user_id},
    )
    assert r.status_code == 200, r.text
    # Told by the socket's close (4410), not by a later HTTP call's 401.
    wait_event(page, "ON_PLUG_SESSION_EXPIRED")
    assert calls == []
    expect(frame.get_by_role("status")).to_contain_text("session has expired")
    events = page.evaluate("() => window.plugEvents")
    expired = [e for e in events if e["type"] == "ON_PLUG_SESSION_EXPIRED"]
    assert expired[0]["reason"] == "the session was revoked"
    # Never a fallback to an anonymous visitor.
    assert not any("/widget/session" in url for url in calls)
