"""Availability in the widget, in headless Chromium: outside office hours it
says the team is away and when it is back in the visitor's own time, posts
the away message after the first message, and asks an anonymous visitor for
an email, which they leave (and stop and resume replies) by keyboard."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from openplug.availability import WEEKDAYS
from tests.e2e.conftest import HostSite, openplug_cli
from tests.e2e.test_widget import host_page, open_widget, page_url, send_first_message
from tests.live_server import LiveServer

AWAY = "We're closed for the night; leave your email and we'll answer in the morning."
VISITOR_ZONE = "America/New_York"


@pytest.fixture
def away_app(widget_server: LiveServer) -> Iterator[dict[str, Any]]:
    """Office hours in Tokyo on one weekday three days from now: never now."""
    day = WEEKDAYS[(datetime.now(UTC) + timedelta(days=3)).weekday()]
    openplug_cli(
        widget_server.settings.data_dir, "apps", "update", widget_server.app_id,
        "--time-zone", "Asia/Tokyo", "--office-hours", f"{day}=09:00-10:00",
        "--reply-time", "hours", "--away-message", AWAY,
    )  # fmt: skip
    r = httpx.post(f"{widget_server.base_url}/widget/config", json={"app_id": widget_server.app_id})
    yield dict(r.json()["availability"])
    openplug_cli(widget_server.settings.data_dir, "apps", "update", widget_server.app_id,
                 "--always-open", "--away-message", "")  # fmt: skip


def test_away_widget_asks_for_an_email_and_the_visitor_leaves_one(
    widget_server: LiveServer, host_site: HostSite, browser: Any, away_app: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    assert away_app["open"] is False
    back = datetime.fromisoformat(away_app["next_open_at"]).astimezone(ZoneInfo(VISITOR_ZONE))
    context = browser.new_context(timezone_id=VISITOR_ZONE, locale="en-US")
    try:
        page = context.new_page()
        page.goto(page_url(host_site, host_page(widget_server)))
        frame = open_widget(page)
        expect(frame.locator("#plug-away")).to_have_text(
            f"We're away \u2014 back {back:%A} {back:%H:%M} (your time)"
        )
        expect(frame.locator("#plug-reply-time")).to_have_text("Typically replies in a few hours")

        # A new conversation: the email form is shown prominently.
        frame.get_by_role("button", name="New conversation").click()
        form = frame.get_by_role("form", name="We're away right now.")
        expect(form).to_be_visible()
        expect(frame.locator("#plug-mail")).to_have_class("mail prominent")
        send_first_message_here(frame, "Is the shop open on Sunday?")
        expect(frame.locator(".msg .body")).to_have_text(["Is the shop open on Sunday?", AWAY])
        expect(frame.locator(".msg.theirs .author")).to_have_text(["Demo"])

        # By keyboard: a bad address is refused in place, then a good one saved.
        email = frame.get_by_label("Email for replies")
        email.focus()
        page.keyboard.type("visitor@")
        page.keyboard.press("Enter")
        expect(email).to_have_attribute("aria-invalid", "true")
        expect(email).to_be_focused()
        email.fill("")
        page.keyboard.type("Night.Owl@example.com")
        page.keyboard.press("Enter")
        expect(frame.locator("#plug-mail-address")).to_have_text(
            "Replies also go to N…@example.com"
        )
        toggle = frame.get_by_role("checkbox", name="Email me replies")
        expect(toggle).to_be_checked()
        expect(toggle).to_be_focused()
        expect(frame.locator("#plug-mail")).not_to_have_class("mail prominent")
        assert sql(widget_server, "SELECT email_claim FROM visitor_mail"
                   " WHERE email_claim = 'Night.Owl@example.com'")  # fmt: skip

        # Stop replies and resume them with the space bar.
        page.keyboard.press("Space")
        expect(frame.locator("#plug-mail-address")).to_have_text(
            "Replies are not emailed to N…@example.com"
        )
        page.keyboard.press("Space")
        expect(frame.locator("#plug-mail-address")).to_have_text(
            "Replies also go to N…@example.com"
        )
        (row,) = sql(widget_server, "SELECT unsubscribed_at FROM visitor_mail"
                     " WHERE email_claim = 'Night.Owl@example.com'")  # fmt: skip
        assert row.unsubscribed_at is None
    finally:
        context.close()


def sql(server: LiveServer, statement: str) -> list[Any]:
    """``server.sql`` from a thread: Playwright's loop runs in this one."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, server.sql(statement)).result()


def send_first_message_here(frame: Any, text: str) -> None:
    """The conversation view is open already: type and send."""
    frame.get_by_label("Message").fill(text)
    frame.get_by_role("button", name="Send").click()


def test_open_team_shows_presence_and_says_when_someone_will_answer(
    widget_server: LiveServer, host_site: HostSite, browser: Any
) -> None:
    from playwright.sync_api import expect

    data_dir = widget_server.settings.data_dir
    openplug_cli(data_dir, "apps", "update", widget_server.app_id, "--always-open",
                 "--reply-time", "hour")  # fmt: skip
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(page_url(host_site, host_page(widget_server)))
        frame = open_widget(page)
        expect(frame.locator("#plug-presence")).to_have_text("We're online")
        expect(frame.locator("#plug-reply-time")).to_have_text("Typically replies within an hour")
        send_first_message(frame, "Can I change my delivery address?")
        expect(frame.locator("#plug-expect")).to_have_text(
            "Thanks! Someone from the team will answer here. Typically replies within an hour."
        )
    finally:
        ctx.close()
        openplug_cli(data_dir, "apps", "update", widget_server.app_id, "--reply-time", "")
