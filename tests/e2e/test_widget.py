"""The widget as a website pastes it, in headless Chromium: the snippet from
the spec on a page of another origin, anonymous and identified visitors,
merge, shutdown, expired tokens, refused origins, live replies.

No sleeps: every wait is a Playwright auto-waiting expectation or a
``wait_for_function`` on the events the page recorded.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.conftest import HostSite, session_token
from tests.live_server import LiveServer

# Exactly the spec's snippet (../shared/spec/widget.md); only the host and
# the app id are filled in. The page defines `sessionToken` before it.
SNIPPET = """<script type="text/javascript" src="https://<openplug host>/static/plug.js"></script>
<script>
  (() => {
    window.plugSDK.init({
      app_id: '<your_unique_app_id>',
      session_token: sessionToken   // made by the site's backend; omit for anonymous visitors
    })
  })();
</script>"""

EVENTS = (
    "<script>window.plugEvents = [];"
    " window.plugSDK.onEvent((e) => window.plugEvents.push(e));</script>"
)


def host_page(server: LiveServer, token: str | None = None, extra: str = "") -> str:
    snippet = SNIPPET.replace("https://<openplug host>", server.base_url).replace(
        "<your_unique_app_id>", server.app_id
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example shop</title></head>
<body><h1>Example shop</h1>
<script>var sessionToken = {json.dumps(token) if token else "undefined"};</script>
{snippet}
{EVENTS}
{extra}
</body></html>"""


def page_url(site: HostSite, html: str) -> str:
    return site.add(f"/shop-{secrets.token_hex(4)}.html", html)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx
    ctx.close()


def wait_event(page: Any, event: str) -> None:
    page.wait_for_function(f"() => window.plugEvents.some((e) => e.type === {event!r})")


def open_widget(page: Any) -> Any:
    wait_event(page, "ON_PLUG_WIDGET_READY")
    page.get_by_role("button", name="Open support chat").click()
    wait_event(page, "ON_PLUG_WIDGET_OPENED")
    return page.frame_locator("#plug-widget-frame")


def send_first_message(frame: Any, text: str) -> None:
    frame.get_by_role("button", name="New conversation").click()
    frame.get_by_label("Message").fill(text)
    frame.get_by_role("button", name="Send").click()


def visitor_name(frame: Any) -> str:
    from playwright.sync_api import expect

    whoami = frame.locator("#plug-whoami")
    expect(whoami).to_contain_text("You are chatting as ")
    name: str = whoami.inner_text().removeprefix("You are chatting as ").strip()
    return name


def agent_conversations(server: LiveServer) -> list[dict[str, Any]]:
    r = httpx.post(
        f"{server.base_url}/conversations.list", headers={"Authorization": server.pat}, json={}
    )
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["conversations"]
    return found


def test_snippet_on_another_origin_opens_the_chat(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    assert host_site.origin != widget_server.base_url
    wait_event(page, "ON_PLUG_WIDGET_READY")
    assert page.evaluate("() => window.plugSDK.isPlugInitialized") is True
    launcher = page.get_by_role("button", name="Open support chat")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    wait_event(page, "ON_PLUG_WIDGET_OPENED")
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.get_by_role("heading", name="Your conversations")).to_be_visible()
    expect(frame.get_by_role("button", name="New conversation")).to_be_visible()
    # The frame page itself carries no token, only the public app id.
    src = page.locator("#plug-widget-frame").get_attribute("src")
    assert src == f"{widget_server.base_url}/widget/frame?app_id={widget_server.app_id}"
    page.get_by_role("button", name="Close support chat").click()
    wait_event(page, "ON_PLUG_WIDGET_CLOSED")
    expect(page.locator("#plug-widget-frame")).to_be_hidden()


def test_anonymous_visitor_is_shown_to_agents_by_friendly_name_and_survives_reload(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    # Nothing is created on a mere page view.
    session_calls: list[str] = []
    page.on(
        "request", lambda r: session_calls.append(r.url) if "/widget/session" in r.url else None
    )
    page.goto(page_url(host_site, host_page(widget_server)))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    assert session_calls == []

    frame = open_widget(page)
    name = visitor_name(frame)
    send_first_message(frame, "Where is my order?")
    expect(frame.locator(".msg.mine .body")).to_have_text(["Where is my order?"])

    mine = [
        c for c in agent_conversations(widget_server)
        if [m["display_name"] for m in c["members"]] == [name]
    ]  # fmt: skip
    assert len(mine) == 1, name
    assert mine[0]["messages"][-1]["body"] == "Where is my order?"

    page.reload()
    frame = open_widget(page)
    assert visitor_name(frame) == name
    expect(frame.locator(".conv-preview")).to_have_text(["You: Where is my order?"])
    # A second tab of the same browser is the same visitor too.
    tab = context.new_page()
    tab.goto(page.url)
    assert visitor_name(open_widget(tab)) == name


def test_message_bodies_with_html_show_as_text(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(page)
    body = "<b>bold</b><img src=x onerror=\"document.title='pwned'\"><script>alert(1)</script>"
    send_first_message(frame, body)
    expect(frame.locator(".msg.mine .body")).to_have_text([body])
    expect(frame.locator(".msg b, .msg img, .msg script")).to_have_count(0)


def test_identified_user_sees_history_in_a_fresh_context(
    widget_server: LiveServer, host_site: HostSite, browser: Any
) -> None:
    from playwright.sync_api import expect

    ref = f"user-{secrets.token_hex(4)}@shop.example"
    first = browser.new_context()
    try:
        page = first.new_page()
        token = session_token(widget_server, ref, display_name="Grace Hopper")
        page.goto(page_url(host_site, host_page(widget_server, token)))
        frame = open_widget(page)
        send_first_message(frame, "My invoice is wrong")
        expect(frame.locator(".msg.mine .body")).to_have_text(["My invoice is wrong"])
    finally:
        first.close()

    second = browser.new_context()
    try:
        page = second.new_page()
        token = session_token(widget_server, ref)
        page.goto(page_url(host_site, host_page(widget_server, token)))
        frame = open_widget(page)
        expect(frame.locator(".conv-preview")).to_have_text(["You: My invoice is wrong"])
        frame.locator(".conv").first.click()
        expect(frame.locator(".msg.mine .body")).to_have_text(["My invoice is wrong"])
    finally:
        second.close()


def test_anonymous_conversation_moves_to_the_user_on_login(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(page)
    send_first_message(frame, "Before I logged in")
    expect(frame.locator(".msg.mine .body")).to_have_text(["Before I logged in"])

    token = session_token(widget_server, f"merge-{secrets.token_hex(4)}")
    page.goto(page_url(host_site, host_page(widget_server, token)))
    frame = open_widget(page)
    expect(frame.locator(".conv-preview")).to_have_text(["You: Before I logged in"])
    # The anonymous credential was used once and forgotten.
    key = f"openplug:anon:{widget_server.app_id}"
    frame_page = next(f for f in page.frames if f.url.startswith(widget_server.base_url))
    assert frame_page.evaluate(f"() => localStorage.getItem({key!r})") is None


def test_shutdown_logs_out(widget_server: LiveServer, host_site: HostSite, context: Any) -> None:
    from playwright.sync_api import expect

    token = session_token(widget_server, f"shared-pc-{secrets.token_hex(4)}")
    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server, token)))
    open_widget(page)
    page.evaluate("() => window.plugSDK.shutdown()")
    expect(page.locator("#plug-widget-frame")).to_have_count(0)
    expect(page.locator("#plug-widget-launcher")).to_have_count(0)
    assert page.evaluate("() => window.plugSDK.isPlugInitialized") is False
    r = httpx.post(
        f"{widget_server.base_url}/widget/conversations.list",
        headers={"Authorization": token},
        json={"app_id": widget_server.app_id},
    )
    assert r.status_code == 401, r.text

    # An anonymous visitor's identity is forgotten: the next init is a new visitor.
    page.evaluate(f"() => window.plugSDK.init({{app_id: {widget_server.app_id!r}}})")
    frame = open_widget(page)
    before = visitor_name(frame)
    page.evaluate("() => window.plugSDK.shutdown()")
    page.evaluate(f"() => window.plugSDK.init({{app_id: {widget_server.app_id!r}}})")
    page.wait_for_function(
        "() => window.plugEvents.filter((e) => e.type === 'ON_PLUG_WIDGET_READY').length === 3"
    )
    page.get_by_role("button", name="Open support chat").click()
    assert visitor_name(page.frame_locator("#plug-widget-frame")) != before


def expired_token(server: LiveServer, user_ref: str) -> str:
    assert server.runtime is not None
    claims = jwt.decode(session_token(server, user_ref), options={"verify_signature": False})
    past = int(time.time()) - 7200
    claims.update(iat=past, exp=past + 3600)
    key = server.runtime.secrets.active_key
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})


def test_expired_token_emits_session_expired_and_never_falls_back_to_anonymous(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    session_calls: list[str] = []
    page.on(
        "request", lambda r: session_calls.append(r.url) if "/widget/session" in r.url else None
    )
    token = expired_token(widget_server, f"late-{secrets.token_hex(4)}")
    page.goto(page_url(host_site, host_page(widget_server, token)))
    wait_event(page, "ON_PLUG_SESSION_EXPIRED")
    wait_event(page, "ON_PLUG_ERROR")
    frame = open_widget(page)
    expect(frame.get_by_role("status")).to_contain_text("session has expired")
    assert session_calls == []


def test_session_token_provider_renews_an_expired_token(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    ref = f"renew-{secrets.token_hex(4)}"
    fresh = session_token(widget_server, ref)
    httpx.post(
        f"{widget_server.base_url}/widget/conversations.create",
        headers={"Authorization": fresh},
        json={"app_id": widget_server.app_id, "body": "From yesterday"},
    ).raise_for_status()
    html = f"""<!doctype html><html><body>
<script src="{widget_server.base_url}/static/plug.js"></script>
<script>
  window.plugEvents = [];
  window.plugSDK.onEvent((e) => window.plugEvents.push(e));
  window.plugSDK.init({{app_id: {widget_server.app_id!r},
    session_token: {expired_token(widget_server, ref)!r},
    session_token_provider: () => Promise.resolve({fresh!r})}});
</script></body></html>"""
    page = context.new_page()
    page.goto(page_url(host_site, html))
    wait_event(page, "ON_PLUG_SESSION_EXPIRED")
    frame = open_widget(page)
    expect(frame.locator(".conv-preview")).to_have_text(["You: From yesterday"])


def test_disallowed_origin_is_refused(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    url = page_url(host_site, host_page(widget_server))
    elsewhere = url.replace(host_site.origin, host_site.other_origin)
    with page.expect_console_message(lambda m: "frame-ancestors" in m.text):
        page.goto(elsewhere)
    expect(page.frame_locator("#plug-widget-frame").locator("#plug-app")).to_have_count(0)
    assert page.evaluate("() => window.plugEvents.map((e) => e.type)") == []
    assert page.evaluate("() => window.plugSDK.isPlugInitialized") is False


def test_agent_reply_arrives_live(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(page)
    name = visitor_name(frame)
    send_first_message(frame, "Anyone there?")
    expect(frame.locator(".msg.mine .body")).to_have_text(["Anyone there?"])
    (conv,) = [
        c for c in agent_conversations(widget_server)
        if [m["display_name"] for m in c["members"]] == [name]
    ]  # fmt: skip
    r = httpx.post(
        f"{widget_server.base_url}/timeline-entries.create",
        headers={"Authorization": widget_server.pat},
        json={"object": conv["id"], "type": "timeline_comment", "body": "Yes, <i>hello</i>!"},
    )
    assert r.status_code == 201, r.text
    expect(frame.locator(".msg.theirs .body")).to_have_text(["Yes, <i>hello</i>!"])

    # Closed: the next reply shows as an unread count on the host page.
    page.evaluate("() => window.plugSDK.toggleWidget(false)")
    wait_event(page, "ON_PLUG_WIDGET_CLOSED")
    r = httpx.post(
        f"{widget_server.base_url}/timeline-entries.create",
        headers={"Authorization": widget_server.pat},
        json={"object": conv["id"], "type": "timeline_comment", "body": "Still there?"},
    )
    assert r.status_code == 201, r.text
    page.wait_for_function(
        "() => window.plugEvents.some((e) => e.type === 'ON_PLUG_UNREAD_COUNT' && e.count === 1)"
    )


def test_phone_sized_viewport(widget_server: LiveServer, host_site: HostSite, browser: Any) -> None:
    from playwright.sync_api import expect

    ctx = browser.new_context(viewport={"width": 360, "height": 640})
    try:
        page = ctx.new_page()
        page.goto(page_url(host_site, host_page(widget_server)))
        frame = open_widget(page)
        box = page.locator("#plug-widget-frame").bounding_box()
        assert box is not None and box["width"] <= 360
        frame.get_by_role("button", name="New conversation").click()
        expect(frame.get_by_role("button", name="Send")).to_be_in_viewport()
        frame.get_by_label("Message").press("Escape")
        wait_event(page, "ON_PLUG_WIDGET_CLOSED")
        expect(page.get_by_role("button", name="Open support chat")).to_be_focused()
    finally:
        ctx.close()


def test_demo_page_anonymous_chat_then_login_keeps_the_conversation(
    widget_server: LiveServer, context: Any
) -> None:
    from playwright.sync_api import expect

    page = context.new_page()
    page.on("dialog", lambda d: d.dismiss())
    # The page runs under a strict policy: anything it blocked would say so here.
    refused: list[str] = []
    page.on("pageerror", lambda e: refused.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{widget_server.base_url}/demo")
    expect(page.locator("pre code")).to_contain_text("window.plugSDK.init({")
    # demo.css applied (the styles are a file now, not inline).
    assert page.evaluate("getComputedStyle(document.body).maxWidth") != "none"
    page.wait_for_function("() => window.plugSDK.isPlugInitialized")
    page.get_by_role("button", name="Open support chat").click()
    frame = page.frame_locator("#plug-widget-frame")
    send_first_message(frame, "Hi from the demo")
    expect(frame.locator(".msg.mine .body")).to_have_text(["Hi from the demo"])

    page.get_by_label("Name").fill("Ada Lovelace")
    page.get_by_label("Email").fill(f"ada-{secrets.token_hex(3)}@example.com")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#who")).to_have_text("Logged in as Ada Lovelace.")
    page.wait_for_function("() => window.plugSDK.isPlugInitialized")
    page.get_by_role("button", name="Open support chat").click()
    expect(frame.locator(".conv-preview")).to_have_text(["You: Hi from the demo"])
    (conv,) = [
        c
        for c in agent_conversations(widget_server)
        if c["messages"][-1]["body"] == "Hi from the demo"
    ]
    assert [m["display_name"] for m in conv["members"]] == ["Ada Lovelace"]
    assert refused == []


def test_agent_edit_and_delete_show_live(
    widget_server: LiveServer, host_site: HostSite, context: Any
) -> None:
    """timeline-entries.update re-renders the message in place, marked
    edited; .delete removes it; conversations.delete takes the visitor back
    to a list without it."""
    from playwright.sync_api import expect

    page = context.new_page()
    page.goto(page_url(host_site, host_page(widget_server)))
    frame = open_widget(page)
    name = visitor_name(frame)
    send_first_message(frame, "Where is my parcel?")
    expect(frame.locator(".msg.mine .body")).to_have_text(["Where is my parcel?"])
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

    typo = agent("/timeline-entries.create", {"object": conv["id"], "body": "On its wya"})
    second = agent("/timeline-entries.create", {"object": conv["id"], "body": "Tracking: 42"})
    theirs = frame.locator(".msg.theirs .body")
    expect(theirs).to_have_text(["On its wya", "Tracking: 42"])
    agent(
        "/timeline-entries.update",
        {"id": typo["timeline_entry"]["id"], "type": "timeline_comment", "body": "On its way"},
    )
    expect(theirs).to_have_text(["On its way", "Tracking: 42"])
    expect(frame.locator(".msg.theirs .edited")).to_have_count(1)
    agent("/timeline-entries.delete", {"id": second["timeline_entry"]["id"]})
    expect(theirs).to_have_text(["On its way"])

    agent("/conversations.delete", {"id": conv["id"]})
    expect(frame.locator(".msg")).to_have_count(0)
    expect(frame.get_by_role("button", name="New conversation")).to_be_visible()
    expect(frame.locator(".conv")).to_have_count(0)
