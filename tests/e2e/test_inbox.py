"""The agents' inbox in headless Chromium, next to a visitor's widget in
another browser context: the seed's whole flow, live both ways, the
visitor's profile, safe rendering, sign-in and sign-out.

No sleeps: every wait is a Playwright auto-waiting expectation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import HostSite, session_token
from tests.e2e.test_widget import (
    agent_conversations,
    host_page,
    open_widget,
    page_url,
    send_first_message,
    visitor_name,
)
from tests.live_server import LiveServer


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture
def inbox(browser: Any, widget_server: LiveServer) -> Iterator[Any]:
    """A page signed in to the inbox as the admin, through the real form."""
    ctx = browser.new_context()
    try:
        yield sign_in(ctx.new_page(), widget_server)
    finally:
        ctx.close()


def sign_in(page: Any, server: LiveServer, password: str | None = None) -> Any:
    from playwright.sync_api import expect

    assert server.first is not None
    page.goto(f"{server.base_url}/inbox")
    page.get_by_label("Email").fill(server.first.admin_email)
    page.get_by_label("Password").fill(password or server.admin_password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.locator("#live-status")).to_have_text("Live")
    return page


def conversation_link(inbox: Any, name: str) -> Any:
    return inbox.get_by_role("navigation", name="Conversations").get_by_role("link", name=name)


def test_seed_flow_visitor_and_agent_talk_live_without_reloads(
    widget_server: LiveServer, host_site: HostSite, context: Any, inbox: Any
) -> None:
    from playwright.sync_api import expect

    visitor = context.new_page()
    visitor.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(visitor)
    name = visitor_name(frame)
    send_first_message(frame, "Where is my parcel?")

    # The already open inbox lists the anonymous visitor, unread, unprompted.
    link = conversation_link(inbox, name)
    expect(link).to_contain_text("Where is my parcel?")
    expect(link.locator(".unread-count")).to_have_text("1")
    link.click()
    expect(inbox.locator(".profile")).to_contain_text("Anonymous visitor")
    expect(inbox.locator(".message.from-visitor .body")).to_have_text(["Where is my parcel?"])
    expect(link.locator(".unread-count")).to_have_count(0)

    # Typing shows on the other side, both ways, and goes when the message lands.
    inbox.get_by_label("Reply").press_sequentially("It left")
    expect(frame.locator("#plug-typing")).to_have_text("Admin is typing…")
    inbox.get_by_label("Reply").fill("It left our depot today.")
    inbox.get_by_label("Reply").press("Enter")
    expect(frame.locator(".msg.theirs .body")).to_have_text(["It left our depot today."])
    expect(frame.locator("#plug-typing")).to_be_hidden()
    expect(inbox.get_by_label("Reply")).to_have_value("")
    # The visitor has the conversation open, so the reply is read: "Seen".
    expect(inbox.locator(".message.from-agent .receipt")).to_have_text("Seen")

    frame.get_by_label("Message").press_sequentially("Great")
    expect(inbox.locator(".typing")).to_have_text(f"{name} is typing…")
    frame.get_by_label("Message").fill("Great, thanks!")
    frame.get_by_role("button", name="Send").click()
    expect(inbox.locator(".message.from-visitor .body")).to_have_text(
        ["Where is my parcel?", "Great, thanks!"]
    )
    expect(inbox.locator(".typing")).to_be_hidden()
    # The agent has it open too: the visitor's message shows "Seen" for them.
    expect(frame.locator(".msg.mine .seen")).to_have_text("Seen")

    inbox.get_by_role("button", name="Resolve").click()
    expect(inbox.locator(".conversation-header .status")).to_have_text("Resolved")
    resolved = inbox.get_by_role("list", name="Resolved conversations")
    expect(resolved.get_by_role("link", name=name)).to_be_visible()
    # Reloading the inbox comes back to the same conversation, read state too.
    inbox.reload()
    expect(inbox.locator(".message .body")).to_have_text(
        ["Where is my parcel?", "It left our depot today.", "Great, thanks!"]
    )
    expect(inbox.locator(".message.from-agent .receipt")).to_have_text("Seen")
    inbox.get_by_role("button", name="Reopen").click()
    expect(inbox.locator(".conversation-header .status")).to_have_text("Open")


def test_identified_visitor_profile_shows_traits_workspace_account_and_custom_fields(
    widget_server: LiveServer, inbox: Any
) -> None:
    from playwright.sync_api import expect

    server = widget_server
    with server.client(server.pat) as c:
        r = c.post("/schemas.custom.set", json={
            "type": "tenant_fragment", "leaf_type": "rev_user",
            "fields": [{"name": "plan", "field_type": "text"}],
        })  # fmt: skip
        assert r.status_code == 201, r.text
    ref = f"grace-{secrets.token_hex(3)}@navy.example"
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {
            "user_ref": ref, "account_ref": "navy.example", "workspace_ref": "navy-labs",
            "user_traits": {"display_name": "Grace Hopper", "email": ref,
                            "custom_fields": {"tnt__plan": "Enterprise"}},
            "account_traits": {"display_name": "US Navy", "domains": ["navy.example"]},
            "workspace_traits": {"display_name": "Navy Labs"},
        }})  # fmt: skip
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
    with server.client(token) as c:
        r = c.post("/widget/conversations.create", json={
            "app_id": server.app_id, "body": "<img src=x onerror=alert(1)> <b>help</b>",
        })  # fmt: skip
        assert r.status_code == 201, r.text

    conversation_link(inbox, "Grace Hopper").click()
    profile = inbox.locator(".profile")
    expect(profile).to_contain_text("Identified by your website")
    for text in [ref, "Navy Labs", "navy-labs", "US Navy", "navy.example", "plan", "Enterprise"]:
        expect(profile).to_contain_text(text)
    # Whatever a visitor types is text in the inbox, never markup.
    expect(inbox.locator(".message .body")).to_have_text(
        ["<img src=x onerror=alert(1)> <b>help</b>"]
    )
    expect(inbox.locator(".messages img, .messages b")).to_have_count(0)


def test_a_reply_that_fails_keeps_the_text_and_says_why(
    widget_server: LiveServer, inbox: Any
) -> None:
    from playwright.sync_api import expect

    token = session_token(widget_server, f"long-{secrets.token_hex(3)}", display_name="Verbose")
    with widget_server.client(token) as c:
        r = c.post("/widget/conversations.create",
                   json={"app_id": widget_server.app_id, "body": "hi"})  # fmt: skip
        assert r.status_code == 201, r.text
    conversation_link(inbox, "Verbose").click()
    too_long = "x" * 20_000
    inbox.get_by_label("Reply").fill(too_long)
    inbox.get_by_role("button", name="Send").click()
    expect(inbox.locator(".conversation .error")).to_contain_text("body")
    expect(inbox.get_by_label("Reply")).to_have_value(too_long)


def test_wrong_password_is_refused_and_sign_out_ends_the_session(
    widget_server: LiveServer, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(f"{widget_server.base_url}/inbox")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("wrong email or password")

    sign_in(page, widget_server)
    cookie = next(c for c in context.cookies() if c["name"] == "openplug_inbox")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("() => document.cookie") == ""  # the page cannot read it
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    r = httpx.get(
        f"{widget_server.base_url}/inbox/me",
        headers={"X-OpenPlug-Inbox": "1", "Cookie": f"openplug_inbox={cookie['value']}"},
    )
    assert r.status_code == 401


def test_profile_column_before_a_conversation_dates_and_long_refs(
    widget_server: LiveServer, inbox: Any
) -> None:
    from playwright.sync_api import expect

    server = widget_server
    # Before any conversation is open the column says what it will show.
    profile = inbox.locator(".profile")
    expect(profile.get_by_role("heading", name="Visitor profile")).to_be_visible()
    expect(profile).to_contain_text("Open a conversation to see who you are talking to")

    # A ref too long for the column: cut with an ellipsis, the whole of it
    # in the tooltip and a Copy button; words elsewhere wrap between words.
    ref = "crm-" + secrets.token_hex(30)
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {
            "user_ref": ref, "user_traits": {
                "display_name": "Katherine Johnson",
                "description": "Prefers calls in the afternoon about orbital mechanics",
            },
        }})  # fmt: skip
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
    with server.client(token) as c:
        r = c.post("/widget/conversations.create", json={"app_id": server.app_id, "body": "Hello"})
        assert r.status_code == 201, r.text

    conversation_link(inbox, "Katherine Johnson").click()
    expect(profile.get_by_role("heading", name="Katherine Johnson")).to_be_visible()
    value = profile.locator(".long-value", has_text=ref[:20])
    expect(value).to_have_attribute("title", ref)
    assert value.evaluate("e => getComputedStyle(e).textOverflow") == "ellipsis"
    assert value.evaluate("e => e.scrollWidth > e.clientWidth")  # really cut
    expect(profile.get_by_role("button", name="Copy External ref")).to_be_visible()
    description = profile.locator("dd", has_text="orbital mechanics")
    assert description.evaluate("e => getComputedStyle(e).overflowWrap") == "break-word"
    # "First seen" always says which day (the inbox runs in en-US here).
    first_seen = profile.locator("dt", has_text="First seen").locator(
        "xpath=following-sibling::dd[1]"
    )
    expect(first_seen).to_have_text(re.compile(r"^today, \d{1,2}:\d{2}"))


def test_an_edited_or_deleted_message_changes_in_the_open_inbox(
    widget_server: LiveServer, host_site: HostSite, context: Any, inbox: Any
) -> None:
    """Another agent tool's timeline-entries.update / .delete show at once
    in an inbox that has the conversation open."""
    from playwright.sync_api import expect

    visitor = context.new_page()
    visitor.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(visitor)
    name = visitor_name(frame)
    send_first_message(frame, "Hello?")
    conversation_link(inbox, name).click()
    expect(inbox.locator(".message .body")).to_have_text(["Hello?"])
    (conv,) = [
        c for c in agent_conversations(widget_server)
        if [m["display_name"] for m in c["members"]] == [name]
    ]  # fmt: skip

    def agent(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(f"{widget_server.base_url}{path}",
                       headers={"Authorization": widget_server.pat}, json=body)  # fmt: skip
        assert r.status_code in (200, 201), r.text
        answer: dict[str, Any] = r.json()
        return answer

    entry = agent("/timeline-entries.create", {"object": conv["id"], "body": "Hi tehre"})
    expect(inbox.locator(".message .body")).to_have_text(["Hello?", "Hi tehre"])
    agent(
        "/timeline-entries.update",
        {"id": entry["timeline_entry"]["id"], "type": "timeline_comment", "body": "Hi there"},
    )
    expect(inbox.locator(".message .body")).to_have_text(["Hello?", "Hi there"])
    agent("/timeline-entries.delete", {"id": entry["timeline_entry"]["id"]})
    expect(inbox.locator(".message .body")).to_have_text(["Hello?"])
