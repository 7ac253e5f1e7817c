"""The widget as a visitor sees it: the launcher's unread badge, the
header naming a signed-in visitor, conversation rows with author and
time, the reply-time line, and a focus ring only for keyboard focus.

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
    wait_event,
)
from tests.live_server import LiveServer

FOCUSED_OUTLINE = "() => getComputedStyle(document.activeElement).outlineStyle"


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


def agent_reply(server: LiveServer, conversation_id: str, body: str) -> None:
    r = httpx.post(
        f"{server.base_url}/timeline-entries.create",
        headers={"Authorization": server.pat},
        json={"object": conversation_id, "type": "timeline_comment", "body": body},
    )
    assert r.status_code == 201, r.text


def conversation_of(server: LiveServer, name: str) -> dict[str, Any]:
    (conv,) = [
        c for c in agent_conversations(server)
        if [m["display_name"] for m in c["members"]] == [name]
    ]  # fmt: skip
    return conv


def test_launcher_badge_shows_a_waiting_reply_and_clears_when_read(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(page)
    name = visitor_name(frame)
    badge = page.locator("#plug-widget-badge")
    expect(badge).to_be_hidden()
    send_first_message(frame, "Is the blue one in stock?")
    expect(frame.locator(".msg.mine .body")).to_have_text(["Is the blue one in stock?"])
    conv = conversation_of(widget_server, name)

    page.get_by_role("button", name="Close support chat").click()
    wait_event(page, "ON_PLUG_WIDGET_CLOSED")
    agent_reply(widget_server, conv["id"], "Yes, three left.")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("1")
    launcher = page.locator("#plug-widget-launcher")
    expect(launcher).to_have_attribute("aria-label", "Open support chat, 1 unread")

    # Opened, the conversation on screen is read: the badge goes.
    launcher.click()
    expect(frame.locator(".msg.theirs .body")).to_have_text(["Yes, three left."])
    expect(badge).to_be_hidden()
    expect(launcher).to_have_attribute("aria-label", "Close support chat")


def test_subtitle_names_the_visitor_the_site_signed_in(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    ref = f"shopper-{secrets.token_hex(4)}"
    token = session_token(widget_server, ref, display_name="Grace Hopper")
    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server, token)))
    frame = open_widget(page)
    expect(frame.locator("#plug-whoami")).to_have_text("You are chatting as Grace Hopper")
    expect(frame.locator("#plug-greeting")).to_have_text("Hi Grace! How can we help?")


def test_list_row_shows_a_title_the_latest_message_its_author_and_time(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(page)
    name = visitor_name(frame)
    expect(frame.locator("#plug-presence")).to_have_text("We're online")
    send_first_message(frame, "Where is my order 1234?")
    # Before anyone answers, the visitor is told that someone will.
    expect(frame.locator("#plug-expect")).to_contain_text("Someone from the team will answer here")
    conv = conversation_of(widget_server, name)
    agent_reply(widget_server, conv["id"], "It ships today.")
    expect(frame.locator(".msg.theirs .body")).to_have_text(["It ships today."])
    expect(frame.locator("#plug-expect")).to_be_hidden()

    frame.get_by_role("button", name="Back to conversations").click()
    row = frame.locator("#plug-conversations .conv")
    # The agent's name, then the latest message.
    by_agent = re.compile(r"^(?!You: ).+: It ships today\.$")
    expect(row.locator(".conv-preview")).to_have_text([by_agent])
    # The automatic title (the first message's words) is not repeated in bold.
    expect(row.locator(".conv-title")).to_have_text(["Where is my order 1234?"])
    # Today: a time of day, in the visitor's locale ("14:05" or "2:05 PM").
    expect(row.locator(".conv-time")).to_have_text([re.compile(r"^\d{1,2}[:.]\d{2}")])

    # With only the visitor's message, the title would repeat the preview: a plain one instead.
    send_first_message(frame, "Second question")
    frame.get_by_role("button", name="Back to conversations").click()
    expect(row.first.locator(".conv-title")).to_have_text("Conversation")
    expect(row.first.locator(".conv-preview")).to_have_text("You: Second question")


def test_focus_ring_only_for_keyboard_focus(
    widget_server: LiveServer, host_site: HostSite, browser: Any
) -> None:
    from playwright.sync_api import expect

    for theme in ("light", "dark"):
        ctx = browser.new_context()
        try:
            page = ctx.new_page()
            page.goto(page_url(host_site, host_page(widget_server)))
            wait_event(page, "ON_PLUG_WIDGET_READY")
            page.evaluate(f"() => window.plugSDK.toggleTheme({theme!r})")
            frame = open_widget(page)  # a mouse click on the launcher
            expect(frame.locator("html")).to_have_attribute("data-theme", theme)
            expect(frame.get_by_role("heading", name="Your conversations")).to_be_focused()
            inner = page.frame(url=lambda u: "/widget/frame" in u)
            assert inner is not None
            assert inner.evaluate(FOCUSED_OUTLINE) == "none"
            page.keyboard.press("Tab")
            expect(frame.get_by_role("button", name="New conversation")).to_be_focused()
            assert inner.evaluate(FOCUSED_OUTLINE) == "solid"
            width = "() => getComputedStyle(document.activeElement).outlineWidth"
            assert inner.evaluate(width) == "3px"
        finally:
            ctx.close()
