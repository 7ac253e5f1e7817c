"""Every member of DevRev's documented ``window.plugSDK`` (methods,
properties, events, ``init`` options; ../shared/reference/devrev-plug-web-sdk/)
in headless Chromium, from a host page on another origin, with the
snippets written as DevRev's pages write them (only the host and the app
id filled in).

No sleeps: every wait is a Playwright expectation, an awaited response or a
``wait_for_function`` on the events the page recorded.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import HostSite, session_token
from tests.e2e.test_inbox import conversation_link, sign_in
from tests.live_server import LiveServer

# install.mdx, "Setup": the loader in <head>, init in <body>.
HEAD = """<script
  type="text/javascript"
  src="https://plug-platform.devrev.ai/static/plug.js"
></script>"""
INIT = """<script>
  window.plugSDK.init({
    // Please ensure you replace the app_id with your unique app id
    app_id: "<your_unique_app_id>",
  });
</script>"""
# methods.mdx, "Take action from Plug chat events" (recording every payload).
ON_EVENT = """<script>
  window.plugEvents = [];
  window.plugSDK.onEvent((payload) => {
    window.plugEvents.push(payload);
  });
</script>"""
# search.mdx, "Setup".
SEARCH_INIT = """<script>
    window.plugSDK.init({
        app_id: '<your_unique_app_id>',
        disable_plug_chat_window: true,
    });

    window.plugSDK.onEvent((payload) => {
    if (payload.type === 'ON_PLUG_WIDGET_READY') {
        window.plugSDK.initSearchAgent();
    }
    });
</script>"""
# user-identity.mdx, "Identify users without session token", with one change:
# its phone number, '+1234567890', is in no numbering plan (+1 takes ten
# digits after it), and openplug refuses numbers that cannot exist.
IDENTITY_INIT = """<script>
window.plugSDK.init({
  app_id: appId,
  identity: {
    user_ref: userRef,
    user_traits: { // Optional user details
      display_name: 'John Doe',
      email: 'john@example.com',
      phone_numbers: ['+14155550123']
    }
  }
});
</script>"""

# user-identity.mdx, "Pass the session token" (its first line, a script
# variable, is set before it).
SESSION_TOKEN_INIT = """<script>
  (() => {
    window.plugSDK.init({
      app_id: '<your_unique_app_id>',
      session_token: sessionToken
    })
  })();
</script>"""

DEVREV_HOST = "https://plug-platform.devrev.ai"


def fill(server: LiveServer, html: str) -> str:
    return html.replace(DEVREV_HOST, server.base_url).replace("<your_unique_app_id>", server.app_id)


def page_with(server: LiveServer, body: str, *, before: str = "", head: str = HEAD) -> str:
    """A host page: DevRev's head snippet, then ``before`` (variables the
    snippet uses), DevRev's onEvent recorder and ``body``."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Example shop</title>
{fill(server, head)}
</head>
<body><h1>Example shop</h1>
<button id="my-plug-widget" type="button">Help</button>
{before}
{ON_EVENT}
{fill(server, body)}
</body></html>"""


def goto(page: Any, site: HostSite, html: str) -> None:
    page.goto(site.add(f"/sdk-{secrets.token_hex(4)}.html", html))


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1200, "height": 800})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Any:
    page = context.new_page()
    page.thrown = []  # anything the page threw: the SDK never throws into it
    page.on("pageerror", lambda e: page.thrown.append(str(e)))
    return page


def wait_event(page: Any, event: str, count: int = 1) -> None:
    page.wait_for_function(
        f"() => window.plugEvents.filter((e) => e.type === {event!r}).length >= {count}"
    )


def events(page: Any, event: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(
        f"() => window.plugEvents.filter((e) => e.type === {event!r})"
    )
    return found


def frame_page(page: Any, server: LiveServer) -> Any:
    return next(f for f in page.frames if f.url.startswith(f"{server.base_url}/widget/frame"))


def agent(server: LiveServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(f"{server.base_url}{path}", headers={"Authorization": server.pat}, json=body)
    assert r.status_code in (200, 201), r.text
    found: dict[str, Any] = r.json()
    return found


def test_install_snippet_properties_toggles_and_theme(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    from playwright.sync_api import expect

    goto(page, host_site, page_with(widget_server, INIT))
    assert host_site.origin != widget_server.base_url
    wait_event(page, "ON_PLUG_WIDGET_READY")
    wait_event(page, "ON_OBSERVABILITY_READY")
    # Properties, read without calling them (as DevRev's pages do).
    assert page.evaluate("() => window.plugSDK.isPlugInitialized") is True
    assert page.evaluate("() => window.plugSDK.isWidgetOpen") is False
    assert page.evaluate("() => window.plugSDK.isSearchAgentOpen") is False

    page.evaluate("() => window.plugSDK.toggleWidget(true)")
    wait_event(page, "ON_PLUG_WIDGET_OPENED")
    assert page.evaluate("() => window.plugSDK.isWidgetOpen") is True
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.get_by_role("heading", name="Your conversations")).to_be_visible()
    page.evaluate("() => window.plugSDK.toggleWidget(false)")
    wait_event(page, "ON_PLUG_WIDGET_CLOSED")
    assert page.evaluate("() => window.plugSDK.isWidgetOpen") is False
    page.get_by_role("button", name="Open support chat").click()  # the default launcher
    wait_event(page, "ON_PLUG_WIDGET_OPENED", 2)

    # The default theme is DevRev's: light. toggleTheme() switches, a theme
    # named goes straight to it.
    root = frame.locator("html")
    expect(root).to_have_attribute("data-theme", "light")
    page.evaluate("() => window.plugSDK.toggleTheme()")
    expect(root).to_have_attribute("data-theme", "dark")
    page.evaluate("() => window.plugSDK.toggleTheme()")
    expect(root).to_have_attribute("data-theme", "light")
    page.evaluate("() => window.plugSDK.toggleTheme('dark')")
    expect(root).to_have_attribute("data-theme", "dark")
    page.evaluate("() => window.plugSDK.toggleTheme('light')")
    expect(root).to_have_attribute("data-theme", "light")

    # Launcher at DevRev's default spacing: 10px from the bottom.
    box = page.locator("#plug-widget-launcher").bounding_box()
    assert box is not None and box["y"] + box["height"] == 800 - 10

    # shutdown() awaits; isPlugInitialized is then false, and init works again.
    page.evaluate("async () => { await window.plugSDK.shutdown(); }")
    assert page.evaluate("() => window.plugSDK.isPlugInitialized") is False
    expect(page.locator("#plug-widget-frame")).to_have_count(0)
    page.evaluate(f"() => window.plugSDK.init({{app_id: {widget_server.app_id!r}}})")
    wait_event(page, "ON_PLUG_WIDGET_READY", 2)
    assert page.evaluate("() => window.plugSDK.isPlugInitialized") is True
    assert page.thrown == []


@pytest.mark.parametrize(
    ("spacing", "bottom", "side"),
    [("{bottom: '10px', side: '10px'}", 10, 30), ("{bottom: 40, side: 0}", 40, 20)],
)
def test_spacing_alignment_and_colors_place_the_launcher(
    widget_server: LiveServer, host_site: HostSite, page: Any, spacing: str, bottom: int, side: int
) -> None:
    from playwright.sync_api import expect

    init = f"""<script>
  window.plugSDK.init({{
    app_id: '<your_unique_app_id>',
    spacing: {spacing},
    widget_alignment: 'left',
    theme: 'dark',
    accent_color: '#ff0000',
    primary_text_color: '#00ff00',
  }});
</script>"""
    goto(page, host_site, page_with(widget_server, init))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    launcher = page.locator("#plug-widget-launcher")
    box = launcher.bounding_box()
    assert box is not None
    assert box["y"] + box["height"] == 800 - bottom
    assert box["x"] == side  # left-aligned: 20px from the edge plus spacing.side
    expect(launcher).to_have_css("background-color", "rgb(255, 0, 0)")
    expect(launcher).to_have_css("color", "rgb(0, 255, 0)")
    launcher.click()
    wait_event(page, "ON_PLUG_WIDGET_OPENED")
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.locator("html")).to_have_attribute("data-theme", "dark")
    expect(frame.locator("header.bar")).to_have_css("background-color", "rgb(255, 0, 0)")
    expect(frame.locator("header.bar")).to_have_css("color", "rgb(0, 255, 0)")
    panel = page.locator("#plug-widget-frame").bounding_box()
    assert panel is not None and panel["x"] == side and panel["y"] + panel["height"] < box["y"]
    assert events(page, "ON_PLUG_ERROR") == [] and page.thrown == []


def test_custom_launcher_and_no_default_launcher(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    init = """<script>
  window.plugSDK.init({
    app_id: '<your_unique_app_id>',
    custom_launcher_selector: '#my-plug-widget',
    enable_default_launcher: false,
  });
</script>"""
    goto(page, host_site, page_with(widget_server, init))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    from playwright.sync_api import expect

    expect(page.locator("#plug-widget-launcher")).to_have_count(0)
    page.get_by_role("button", name="Help").click()
    wait_event(page, "ON_PLUG_WIDGET_OPENED")
    page.get_by_role("button", name="Help").click()
    wait_event(page, "ON_PLUG_WIDGET_CLOSED")


def test_start_conversation_prefill_conversation_start_and_unread_count(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    from playwright.sync_api import expect

    goto(page, host_site, page_with(widget_server, INIT))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    # methods.mdx, "Start conversation".
    page.evaluate("""() => plugSDK.toggleWidget(true, 'create_conversation', {
	startConversationContent: 'Hi',
})""")
    wait_event(page, "ON_PLUG_WIDGET_OPENED")
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.get_by_role("heading", name="New conversation")).to_be_visible()
    expect(frame.get_by_label("Message")).to_have_value("Hi")
    frame.get_by_role("button", name="Send").click()
    wait_event(page, "ON_CONVERSATION_START")
    (start,) = events(page, "ON_CONVERSATION_START")
    conv_id = start["conversation"]["id"]
    assert start["conversation"]["display_id"].startswith("CONV-")
    assert (
        agent(widget_server, "/conversations.get", {"id": conv_id})["conversation"]["id"] == conv_id
    )
    # A second message in the same conversation starts nothing new.
    expect(frame.get_by_label("Message")).to_have_value("")  # the first one is done
    frame.get_by_label("Message").fill("And one more thing")
    frame.get_by_role("button", name="Send").click()
    expect(frame.locator(".msg.mine .body")).to_have_text(["Hi", "And one more thing"])
    assert len(events(page, "ON_CONVERSATION_START")) == 1

    page.evaluate("() => window.plugSDK.toggleWidget(false)")
    wait_event(page, "ON_PLUG_WIDGET_CLOSED")
    reply = {"object": conv_id, "type": "timeline_comment", "body": "Hello from support"}
    agent(widget_server, "/timeline-entries.create", reply)
    page.wait_for_function(
        "() => window.plugEvents.some((e) => e.type === 'ON_PLUG_WIDGET_UNREAD_COUNT_CHANGE'"
        " && e.count === 1)"
    )
    assert page.thrown == []


def test_session_token_identifies_the_visitor(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    from playwright.sync_api import expect

    token = session_token(widget_server, f"known-{secrets.token_hex(4)}@example.com")
    r = httpx.post(f"{widget_server.base_url}/widget/conversations.create",
                   headers={"Authorization": token},
                   json={"app_id": widget_server.app_id, "body": "From my phone"})  # fmt: skip
    assert r.status_code == 201, r.text
    before = f"<script>const sessionToken = {json.dumps(token)};</script>"
    goto(page, host_site, page_with(widget_server, SESSION_TOKEN_INIT, before=before))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    page.get_by_role("button", name="Open support chat").click()
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.locator(".conv-preview")).to_have_text(["From my phone"])


def test_identity_and_update_identity_make_an_unverified_user(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    from playwright.sync_api import expect

    ref = f"page-user-{secrets.token_hex(4)}"
    before = f"<script>var appId = {json.dumps(widget_server.app_id)};"
    before += f" var userRef = {json.dumps(ref)};</script>"
    goto(page, host_site, page_with(widget_server, IDENTITY_INIT, before=before))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    page.get_by_role("button", name="Open support chat").click()
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.locator("#plug-whoami")).to_have_text("You are chatting as John Doe")
    (user,) = agent(widget_server, "/rev-users.list", {"external_ref": [ref]})["rev_users"]
    assert user["is_verified"] is False and user["email"] == "john@example.com"
    assert user["phone_numbers"] == ["+14155550123"]

    # user-identity.mdx's updateIdentity.
    with page.expect_response(lambda r: r.url.endswith("/widget/identity.update")) as done:
        page.evaluate("""() => window.plugSDK.updateIdentity({
  user_traits: {
    display_name: 'Johnny Doe',
    email: 'johnny@example.com',
  }
})""")
    assert done.value.status == 200
    (user,) = agent(widget_server, "/rev-users.list", {"external_ref": [ref]})["rev_users"]
    assert user["display_name"] == "Johnny Doe" and user["email"] == "johnny@example.com"
    assert user["is_verified"] is False and user["external_ref"] == ref
    assert page.thrown == []


def test_identity_never_takes_over_a_verified_user(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    from playwright.sync_api import expect

    ref = f"verified-{secrets.token_hex(4)}@example.com"
    token = session_token(widget_server, ref)
    r = httpx.post(f"{widget_server.base_url}/widget/conversations.create",
                   headers={"Authorization": token},
                   json={"app_id": widget_server.app_id, "body": "my private order"})  # fmt: skip
    assert r.status_code == 201, r.text
    before = f"<script>var appId = {json.dumps(widget_server.app_id)};"
    before += f" var userRef = {json.dumps(ref)};</script>"
    goto(page, host_site, page_with(widget_server, IDENTITY_INIT, before=before))
    wait_event(page, "ON_PLUG_ERROR")
    assert "verified" in events(page, "ON_PLUG_ERROR")[0]["error"]
    page.get_by_role("button", name="Open support chat").click()
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.locator("#plug-status")).to_have_text(re.compile("went wrong"))
    expect(frame.locator(".conv")).to_have_count(0)
    expect(frame.get_by_text("my private order")).to_have_count(0)


def test_track_event_and_session_properties_reach_the_inbox(
    widget_server: LiveServer, host_site: HostSite, page: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    made: list[str] = []
    page.on("request", lambda r: made.append(r.url) if "/widget/" in r.url else None)
    goto(page, host_site, page_with(widget_server, INIT))
    wait_event(page, "ON_OBSERVABILITY_READY")
    # methods.mdx's samples, before the visitor has interacted: nothing is
    # created for them (a page view makes no visitor); they wait.
    page.evaluate("""() => {
var properties = {
"name" : "John Doe",
"plan" : "Starter",
"payment_method" : "Credit Card",
"expiry_date" : "2024-12-12"
}
window.plugSDK.trackEvent("signed_up",properties)
window.plugSDK.addSessionProperties({
	city: 'Bengaluru',
	region: 'us-east'
});
}""")
    assert not [u for u in made if "/widget/session" in u or "events.track" in u]

    # Opening the chat is the first interaction: the visitor is made, and
    # what waited is recorded for them.
    with page.expect_response(lambda r: r.url.endswith("/widget/events.track")) as tracked:
        page.get_by_role("button", name="Open support chat").click()
    assert tracked.value.status == 200
    frame = page.frame_locator("#plug-widget-frame")
    frame.get_by_role("button", name="New conversation").click()
    frame.get_by_label("Message").fill("Where is my order?")
    frame.get_by_role("button", name="Send").click()
    wait_event(page, "ON_CONVERSATION_START")
    name = frame.locator("#plug-whoami").inner_text().removeprefix("You are chatting as ")
    with page.expect_response(lambda r: r.url.endswith("/widget/events.track")) as tracked:
        page.evaluate("() => window.plugSDK.trackEvent('added_to_cart', {sku: 'A-1', qty: 2})")
    assert tracked.value.status == 200
    with page.expect_response(lambda r: r.url.endswith("/widget/visit-properties.add")) as sp:
        page.evaluate("() => window.plugSDK.addSessionProperties({tier: 'gold'})")
    assert sp.value.json()["session_properties"] == {
        "city": "Bengaluru",
        "region": "us-east",
        "tier": "gold",
    }

    # The agent sees it beside the conversation.
    ctx = browser.new_context()
    try:
        inbox = sign_in(ctx.new_page(), widget_server)
        conversation_link(inbox, re.compile(re.escape(name))).click()
        profile = inbox.locator(".profile")
        expect(profile).to_contain_text("Current page")
        expect(profile).to_contain_text(page.url)
        expect(profile.locator("dl.facts").last).to_contain_text("Bengaluru")
        expect(profile.locator("ol.events li .event-name")).to_have_text(
            ["added_to_cart", "signed_up"]
        )
        expect(profile.locator("ol.events")).to_contain_text("payment_method: Credit Card")
    finally:
        ctx.close()
    assert page.thrown == []


def test_search_agent_and_session_recording_are_not_supported_and_never_throw(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    from playwright.sync_api import expect

    goto(page, host_site, page_with(widget_server, SEARCH_INIT))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    wait_event(page, "ON_PLUG_ERROR")
    # The chat is disabled: no launcher, toggleWidget shows nothing.
    expect(page.locator("#plug-widget-launcher")).to_have_count(0)
    page.evaluate("() => window.plugSDK.toggleWidget(true)")
    assert page.evaluate("() => window.plugSDK.isWidgetOpen") is False
    # search.mdx's calls, and the hotkey binding's.
    page.evaluate("""() => {
    window.plugSDK.toggleSearchAgent();
    window.plugSDK.toggleSearchAgent(true);
    window.plugSDK.prefillSearchQuery("search_query");
}""")
    assert page.evaluate("() => window.plugSDK.isSearchAgentOpen") is False
    # Session recording: restartSessionRecording, and init's options.
    page.evaluate("() => window.plugSDK.restartSessionRecording()")
    page.evaluate("() => window.plugSDK.restartSessionRecording()")
    details = page.evaluate("() => window.plugSDK.getSessionDetails()")
    assert isinstance(details["sessionId"], str) and isinstance(details["tabId"], str)
    # user-identity.mdx: re-initialising with the ongoing session's details.
    page.evaluate(f"""() => {{
const {{ sessionId, tabId }} = window.plugSDK.getSessionDetails();

if (window.plugSDK.isPlugInitialized) {{
  window.plugSDK.shutdown();
}}
window.plugSDK.init({{
  app_id: {json.dumps(widget_server.app_id)},
  session_recording_options: {{
    sessionDetails: {{
      sessionId: sessionId,
      tabId: tabId,
    }},
  }},
  enable_session_recording: true,
  session_recording_key: 'key',
  identity: {{}},
}});
}}""")
    wait_event(page, "ON_PLUG_WIDGET_READY", 2)
    assert page.evaluate("() => window.plugSDK.getSessionDetails()") == details
    errors = events(page, "ON_PLUG_ERROR")
    assert [(e["code"], e["feature"]) for e in errors] == [
        ("not_supported", "search_agent"),
        ("not_supported", "session_recording"),
    ]
    assert errors[0]["method"] == "initSearchAgent"
    # ON_SEARCH_AGENT_QUERY needs a search agent: it never comes.
    assert events(page, "ON_SEARCH_AGENT_QUERY") == []
    assert page.thrown == []


def test_misuse_is_an_error_event_never_an_exception(
    widget_server: LiveServer, host_site: HostSite, page: Any
) -> None:
    goto(page, host_site, page_with(widget_server, INIT))
    wait_event(page, "ON_PLUG_WIDGET_READY")
    page.evaluate("""() => {
  window.plugSDK.trackEvent('has spaces', {});
  window.plugSDK.trackEvent('ok', 'not an object');
  window.plugSDK.addSessionProperties(null);
  window.plugSDK.updateIdentity({user_traits: {display_name: 'X'}});
  window.plugSDK.toggleTheme('light | dark');
  window.plugSDK.toggleWidget(true, 'no_such_view');
  window.plugSDK.init({app_id: 'again'});
}""")
    wait_event(page, "ON_PLUG_ERROR", 6)
    codes = [e["code"] for e in events(page, "ON_PLUG_ERROR")]
    assert codes == ["invalid_option"] * 6, codes
    assert page.thrown == []
