"""Assignment, the Mine / Unassigned / All views and notifications in the
inbox, in headless Chromium. Visitors write over the widget's HTTP calls
(the widget itself is tested elsewhere).

No sleeps: every wait is a Playwright auto-waiting expectation or a
``wait_for_function`` on what the page recorded.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import openplug_cli, session_token
from tests.e2e.test_inbox import conversation_link, sign_in
from tests.live_server import LiveServer

# Records what the page asks of the Notification API, and lets the test
# say whether the tab is hidden. Notification.permission starts as
# "default", as for an agent who was never asked, so that the click on
# "Enable desktop notifications" is what asks the browser (whose context
# grants it).
OBSERVE = """(() => {
  const Real = window.Notification;
  let permission = 'default';
  window.__notes = [];
  window.__permissionRequests = 0;
  class Recorded {
    constructor(title, options = {}) {
      this.title = title; this.body = options.body; this.tag = options.tag; this.onclick = null;
      window.__notes.push(this);
      try { this.real = new Real(title, options); } catch (e) { this.real = null; }
    }
    close() { if (this.real) this.real.close(); }
    static get permission() { return permission; }
    static async requestPermission() {
      window.__permissionRequests += 1;
      permission = await Real.requestPermission();
      return permission;
    }
  }
  window.Notification = Recorded;
  window.__hidden = false;
  Object.defineProperty(Document.prototype, 'hidden',
    { configurable: true, get() { return window.__hidden; } });
  Object.defineProperty(Document.prototype, 'visibilityState',
    { configurable: true, get() { return window.__hidden ? 'hidden' : 'visible'; } });
  window.__tones = 0;
  const start = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__tones += 1;
    return start.apply(this, args);
  };
})();"""


@pytest.fixture(scope="module")
def sam(widget_server: LiveServer) -> dict[str, Any]:
    """A second agent, made as an operator would."""
    openplug_cli(widget_server.settings.data_dir, "agents", "create",
                 "--email", "sam@example.com", "--name", "Sam")  # fmt: skip
    with widget_server.client(widget_server.pat) as c:
        agents = c.post("/dev-users.list", json={}).json()["dev_users"]
    return next(a for a in agents if a["email"] == "sam@example.com")


@pytest.fixture
def inbox(browser: Any, widget_server: LiveServer) -> Iterator[Any]:
    ctx = browser.new_context(permissions=["notifications"])
    ctx.add_init_script(OBSERVE)
    try:
        yield sign_in(ctx.new_page(), widget_server)
    finally:
        ctx.close()


def visitor_writes(server: LiveServer, name: str, body: str) -> tuple[str, str]:
    """A new identified visitor starts a conversation; its id and the token."""
    token = session_token(server, f"{name.lower().replace(' ', '-')}-{secrets.token_hex(3)}",
                          display_name=name)  # fmt: skip
    body_json = {"app_id": server.app_id, "body": body}
    with server.client(token) as c:
        r = c.post("/widget/conversations.create", json=body_json)
    assert r.status_code == 201, r.text
    return str(r.json()["conversation"]["id"]), token


def visitor_writes_again(server: LiveServer, token: str, conversation: str, body: str) -> None:
    body_json = {"app_id": server.app_id, "conversation": conversation, "body": body}
    with server.client(token) as c:
        r = c.post("/widget/messages.create", json=body_json)
    assert r.status_code == 201, r.text


def open_counts(server: LiveServer, me: str) -> dict[str, str]:
    """What the view links must count: the server's open conversations."""
    with server.client(server.pat) as c:
        page = c.post("/conversations.list", json={"status": ["open"], "limit": 100}).json()
    assert "next_cursor" not in page
    open_ = page["conversations"]
    return {
        "Mine": str(sum(any(o["id"] == me for o in c["owned_by"]) for c in open_)),
        "Unassigned": str(sum(not c["owned_by"] for c in open_)),
        "All": str(len(open_)),
    }


def test_assign_to_me_to_another_agent_and_the_three_views(
    widget_server: LiveServer, inbox: Any, sam: dict[str, Any]
) -> None:
    from playwright.sync_api import expect

    server = widget_server
    visitor_writes(server, "Ada Assign", "Can someone own this?")
    bo, _ = visitor_writes(server, "Bo Unowned", "Me too")
    views = inbox.get_by_role("navigation", name="Views")
    me = inbox.evaluate("() => fetch('/inbox/me', {headers: {'X-OpenPlug-Inbox': '1'}})"
                        ".then((r) => r.json()).then((b) => b.agent.id)")  # fmt: skip

    ada = conversation_link(inbox, "Ada Assign")
    expect(ada.locator(".owner")).to_have_text("Unassigned")
    ada.click()
    assignment = inbox.get_by_role("group", name="Assignment")
    expect(assignment.locator(".owners")).to_have_text("Unassigned")
    assignment.get_by_role("button", name="Assign to me").click()
    expect(assignment.locator(".owners")).to_have_text("Assigned to You")
    expect(ada.locator(".owner")).to_have_text("You")
    # The clicked button is gone; the keyboard stays in the group.
    expect(assignment.get_by_label("Assign to")).to_be_focused()

    views.get_by_role("link", name="Mine").click()
    expect(inbox).to_have_url(f"{server.base_url}/inbox?view=mine&c={ada_key(inbox)}")
    expect(ada).to_be_visible()
    expect(conversation_link(inbox, "Bo Unowned")).to_have_count(0)
    for name, count in open_counts(server, me).items():
        expect(views.get_by_role("link", name=name).locator(".count")).to_have_text(count)

    # By keyboard: focus a view, Enter.
    views.get_by_role("link", name="Unassigned").focus()
    inbox.keyboard.press("Enter")
    expect(conversation_link(inbox, "Bo Unowned")).to_be_visible()
    expect(ada).to_have_count(0)

    # Another agent's assignment is live: Bo leaves the Unassigned view.
    with server.client(server.pat) as c:
        r = c.post("/conversations.update", json={"id": bo, "owned_by": {"set": [sam["id"]]}})
        assert r.status_code == 200, r.text
    expect(conversation_link(inbox, "Bo Unowned")).to_have_count(0)

    views.get_by_role("link", name="All").click()
    expect(conversation_link(inbox, "Bo Unowned").locator(".owner")).to_have_text("Sam")
    expect(ada).to_be_visible()

    # Pick another agent, then unassign.
    assignment.get_by_label("Assign to").select_option(label="Sam")
    assignment.get_by_role("button", name="Assign", exact=True).click()
    expect(assignment.locator(".owners")).to_have_text("Assigned to Sam")
    expect(ada.locator(".owner")).to_have_text("Sam")
    assignment.get_by_role("button", name="Unassign").click()
    expect(assignment.locator(".owners")).to_have_text("Unassigned")
    expect(ada.locator(".owner")).to_have_text("Unassigned")
    for name, count in open_counts(server, me).items():
        expect(views.get_by_role("link", name=name).locator(".count")).to_have_text(count)


def ada_key(inbox: Any) -> str:
    return str(inbox.evaluate("() => new URLSearchParams(location.search).get('c')"))


def hide(page: Any, hidden: bool) -> None:
    page.evaluate(
        "(hidden) => { window.__hidden = hidden;"
        " document.dispatchEvent(new Event('visibilitychange')); }",
        hidden,
    )


def notes(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        "() => window.__notes.map((n) => ({title: n.title, body: n.body, tag: n.tag}))"
    )
    return found


def test_desktop_notification_sound_and_title_count_for_a_hidden_tab(
    widget_server: LiveServer, inbox: Any
) -> None:
    from playwright.sync_api import expect

    server = widget_server
    # Nothing is asked on load; the panel offers it.
    inbox.get_by_text("Notifications", exact=True).click()
    enable = inbox.get_by_role("button", name="Enable desktop notifications")
    expect(enable).to_be_visible()
    assert inbox.evaluate("() => window.__permissionRequests") == 0
    enable.click()
    expect(inbox.get_by_text("Desktop notifications are on.")).to_be_visible()
    assert inbox.evaluate("() => window.__permissionRequests") == 1

    # Sound: off by default, on from a click (a tone plays), kept in localStorage.
    sound = inbox.get_by_label("Play a sound for new messages")
    expect(sound).not_to_be_checked()
    sound.check()
    inbox.wait_for_function("() => window.__tones >= 1")
    assert inbox.evaluate("() => localStorage.getItem('openplug.inbox.sound')") == "on"

    # The mail preference is the agent's, on the server.
    inbox.get_by_label("Email me, when no inbox of mine is open, about").select_option("mine")
    expect(inbox.locator(".pref-status")).to_have_text("Saved")
    with server.client(server.pat) as c:
        assert c.get("/dev-users.self").json()["dev_user"]["mail_notifications"] == "mine"
        c.post("/dev-users.self.update", json={"mail_notifications": "all"})

    expect(inbox).to_have_title("Inbox · openplug")
    hide(inbox, True)
    conversation, token = visitor_writes(server, "Cy Notify", "Anyone there?")
    inbox.wait_for_function("() => window.__notes.length >= 1")
    assert notes(inbox) == [
        {"title": "New conversation: Cy Notify", "body": "Anyone there?", "tag": conversation}
    ]
    expect(inbox).to_have_title("(1) Inbox · openplug")
    assert inbox.evaluate("() => window.__tones") == 2
    visitor_writes_again(server, token, conversation, "Hello?")
    inbox.wait_for_function("() => window.__notes.length >= 2")
    assert notes(inbox)[1:] == [{"title": "Cy Notify", "body": "Hello?", "tag": conversation}]
    expect(inbox).to_have_title("(2) Inbox · openplug")

    # Seen again: the count goes. Clicking the notification opens the conversation.
    hide(inbox, False)
    expect(inbox).to_have_title("Inbox · openplug")
    inbox.evaluate("() => window.__notes[1].onclick()")
    expect(inbox.locator(".message.from-visitor .body")).to_have_text(["Anyone there?", "Hello?"])

    # Looking at it with the tab visible: no notification (the next one
    # recorded is for the message after, sent while hidden).
    visitor_writes_again(server, token, conversation, "Ah, there you are")
    expect(inbox.locator(".message.from-visitor .body")).to_have_count(3)
    # The list's preview moves on the inbox's event, the one that notifies,
    # which comes after the conversation's: hidden before it, the tab would be
    # hidden when it came.
    expect(inbox.locator(".items .preview").first).to_contain_text("Ah, there you are")
    hide(inbox, True)
    visitor_writes_again(server, token, conversation, "Thanks")
    inbox.wait_for_function("() => window.__notes.length >= 3")
    assert [n["body"] for n in notes(inbox)[2:]] == ["Thanks"]
    expect(inbox).to_have_title("(1) Inbox · openplug")
