"""Tags in the inbox, in headless Chromium: an agent tags the open
conversation (a value picked from the tag's allowed values) and removes
the tag, while a second agent's page shows each change live; the list
shows one tag's conversations; Settings → Tags creates, edits and
deletes tags. Effects are checked through the public API.

No sleeps: every wait is a Playwright auto-waiting expectation.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.test_inbox import conversation_link, sign_in
from tests.e2e.test_inbox_assignment import visitor_writes
from tests.live_server import LiveServer


@pytest.fixture
def two_agents(browser: Any, widget_server: LiveServer) -> Iterator[tuple[Any, Any]]:
    contexts = [browser.new_context(), browser.new_context()]
    try:
        yield (
            sign_in(contexts[0].new_page(), widget_server),
            sign_in(contexts[1].new_page(), widget_server),
        )
    finally:
        for ctx in contexts:
            ctx.close()


def api(server: LiveServer, call: str, body: dict[str, Any], status: int = 200) -> Any:
    with server.client(server.pat) as c:
        r = c.post(call, json=body)
    assert r.status_code == status, r.text
    return r.json()


def test_tag_a_conversation_with_a_value_and_remove_it_live_for_another_agent(
    widget_server: LiveServer, two_agents: tuple[Any, Any]
) -> None:
    from playwright.sync_api import expect

    server = widget_server
    name = f"priority-{secrets.token_hex(3)}"
    tag = api(server, "/tags.create", {"name": name, "allowed_values": ["low", "high"]}, 201)["tag"]
    visitor = f"Tess Tagged {secrets.token_hex(2)}"
    conversation, _ = visitor_writes(server, visitor, "Please tag me")
    other_visitor = f"Uma Untagged {secrets.token_hex(2)}"
    visitor_writes(server, other_visitor, "Not me")
    me, other = two_agents
    for page in two_agents:
        page.reload()
        expect(page.locator("#live-status")).to_have_text("Live")
        conversation_link(page, visitor).click()
        expect(page.get_by_role("group", name="Tags").get_by_text("No tags")).to_be_visible()

    tags = me.get_by_role("group", name="Tags")
    tags.get_by_label("Tag", exact=True).select_option(label=name)
    tags.get_by_label("Value").select_option("high")
    tags.get_by_role("button", name="Add tag").click()
    chip = f"li.tag-chip[data-tag='{tag['display_id']}']"
    expect(tags.locator(chip).locator("span")).to_have_text(f"{name}: high")
    theirs = other.get_by_role("group", name="Tags").locator(chip).locator("span")
    expect(theirs).to_have_text(f"{name}: high")
    got = api(server, "/conversations.get", {"id": conversation})["conversation"]
    assert [(t["tag"]["id"], t.get("value")) for t in got["tags"]] == [(tag["id"], "high")]

    # The list can show this tag's conversations only.
    filter_ = me.get_by_label("Tagged")
    filter_.select_option(label=name)
    expect(conversation_link(me, other_visitor)).to_have_count(0)
    expect(conversation_link(me, visitor)).to_be_visible()
    filter_.select_option(label="Any tag")
    expect(conversation_link(me, other_visitor)).to_be_visible()

    other.get_by_role("button", name=f"Remove tag {name}").click()
    expect(tags.locator(chip)).to_have_count(0)
    expect(tags.get_by_text("No tags")).to_be_visible()
    got = api(server, "/conversations.get", {"id": conversation})["conversation"]
    assert got["tags"] == []


def test_settings_tags_create_edit_delete(
    widget_server: LiveServer, two_agents: tuple[Any, Any]
) -> None:
    from playwright.sync_api import expect

    server = widget_server
    page, _ = two_agents
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Tags").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tags")
    expect(page.locator(".loading")).to_have_count(0)

    name = f"billing-{secrets.token_hex(3)}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description (optional)").fill("Money questions")
    page.get_by_label("Allowed values (optional)").fill("refund\ninvoice\nrefund")
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("status").filter(has_text=f"{name} created.")).to_be_visible()
    (made,) = api(server, "/tags.list", {"name": [name]})["tags"]
    assert made["description"] == "Money questions"
    assert made["allowed_values"] == ["refund", "invoice"]
    row = page.locator(f"tr[data-tag='{made['display_id']}']")
    expect(row.locator("td[data-label='Allowed values'] li")).to_have_text(["refund", "invoice"])

    # A name taken is refused, naming the field; nothing changes.
    page.get_by_label("Name").fill(name)
    page.get_by_role("button", name="Create tag").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")

    row.get_by_role("button", name=f"Edit {name}").click()
    expect(page.get_by_label("Name")).to_have_value(name)
    page.get_by_label("Allowed values (optional)").fill("invoice")
    page.get_by_role("button", name="Save tag").click()
    expect(page.get_by_role("status").filter(has_text=f"{name} saved.")).to_be_visible()
    expect(row.locator("td[data-label='Allowed values'] li")).to_have_text(["invoice"])
    assert api(server, "/tags.get", {"id": made["id"]})["tag"]["allowed_values"] == ["invoice"]

    row.get_by_role("button", name=f"Delete {name}").click()
    row.get_by_role("button", name="Yes, delete").click()
    expect(row).to_have_count(0)
    assert api(server, "/tags.list", {"name": [name]})["tags"] == []
