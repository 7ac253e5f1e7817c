"""Internal notes in headless Chromium: an agent writes one in the inbox
with the "Note" toggle; it shows as a note in their inbox and, live, in a
colleague's; the visitor's widget, open in another context, never shows it,
not live and not after a reload.

No sleeps: every wait is a Playwright auto-waiting expectation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import HostSite
from tests.e2e.test_inbox import conversation_link, sign_in
from tests.e2e.test_widget import host_page, open_widget, page_url, send_first_message, visitor_name
from tests.live_server import LiveServer

NOTE = "Finance approved the refund, do not promise a date"


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    made = [browser.new_context() for _ in range(3)]
    yield made
    for ctx in made:
        ctx.close()


def test_a_note_shows_to_agents_live_and_never_in_the_widget(
    widget_server: LiveServer, host_site: HostSite, contexts: list[Any]
) -> None:
    from playwright.sync_api import expect

    visitor_ctx, mine_ctx, colleague_ctx = contexts
    visitor = visitor_ctx.new_page()
    visitor.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(visitor)
    name = visitor_name(frame)
    send_first_message(frame, "Can I get a refund?")

    inbox = sign_in(mine_ctx.new_page(), widget_server)
    colleague = sign_in(colleague_ctx.new_page(), widget_server)
    for page in (inbox, colleague):
        conversation_link(page, name).click()
        expect(page.locator(".message .body")).to_have_text(["Can I get a refund?"])

    inbox.get_by_label("Note").check()
    expect(inbox.get_by_role("button", name="Add note")).to_be_visible()
    inbox.get_by_label("Reply").fill(NOTE)
    inbox.get_by_label("Reply").press("Enter")
    for page in (inbox, colleague):
        note = page.locator(".message.note")
        expect(note.locator(".body")).to_have_text([NOTE])
        expect(note.locator(".note-label")).to_contain_text("Internal note")
    expect(inbox.get_by_label("Reply")).to_have_value("")

    # Back to replying: the visitor gets the reply and only the reply.
    inbox.get_by_label("Note").uncheck()
    inbox.get_by_label("Reply").fill("Yes, it is on its way.")
    inbox.get_by_role("button", name="Send").click()
    expect(frame.locator(".msg .body")).to_have_text(
        ["Can I get a refund?", "Yes, it is on its way."]
    )
    expect(colleague.locator(".message .body")).to_have_text(
        ["Can I get a refund?", NOTE, "Yes, it is on its way."]
    )
    expect(colleague.locator(".message.note")).to_have_count(1)
    expect(frame.get_by_text(NOTE)).to_have_count(0)

    # A reload (the list's preview, then the conversation from the server).
    visitor.reload()
    frame = open_widget(visitor)
    row = frame.locator("button.conv")
    expect(row).to_contain_text("Yes, it is on its way.")
    row.click()
    expect(frame.locator(".msg .body")).to_have_text(
        ["Can I get a refund?", "Yes, it is on its way."]
    )
    expect(frame.get_by_text(NOTE)).to_have_count(0)
