"""Screenshots of what a new user sees first, made from the current code:
the widget on the demo shop (light, dark, phone width), the inbox and each
settings page.

They are test artefacts: written to a fresh folder under pytest's basetemp,
or to ``OPENPLUG_SCREENSHOTS_DIR`` when set. The README's pictures are made
with ``OPENPLUG_SCREENSHOTS_DIR=docs/screenshots ./scripts/test tests/e2e -k
screenshot``. Each test also checks what it shows, so a picture of a broken
page fails the run.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_inbox import conversation_link, sign_in
from tests.e2e.test_widget import send_first_message
from tests.live_server import LiveServer

SCREENSHOTS_ENV = "OPENPLUG_SCREENSHOTS_DIR"
DESKTOP = {"width": 1200, "height": 760}
PHONE = {"width": 390, "height": 760}
SETTINGS_PAGES = [
    ("tokens", "PLuG tokens"),
    ("apps", "Apps"),
    ("attributes", "Custom attributes"),
    ("tags", "Tags"),
    ("audit", "Audit log"),
    ("email", "Email"),
]


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get(SCREENSHOTS_ENV)
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    made: list[Any] = []

    def make(viewport: dict[str, int]) -> Any:
        ctx = browser.new_context(viewport=viewport, device_scale_factor=1, locale="en-GB",
                                  timezone_id="Europe/London")  # fmt: skip
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()


def save(page: Any, folder: Path, name: str, *, full_page: bool = False) -> Path:
    """A palette PNG (256 colours are plenty for a UI): a third of the size,
    so the README's pictures stay small in the repository."""
    from PIL import Image

    path = folder / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled", caret="hide", full_page=full_page)
    with Image.open(path) as shot:
        small = shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)
    assert path.stat().st_size < 200_000, f"{path} is large"
    return path


def agent_reply(server: LiveServer, conversation_id: str, body: str) -> None:
    r = httpx.post(
        f"{server.base_url}/timeline-entries.create",
        headers={"Authorization": server.pat},
        json={"object": conversation_id, "type": "timeline_comment", "body": body},
    )
    assert r.status_code == 201, r.text


def send_and_store(page: Any, frame: Any, text: str) -> None:
    """``send_first_message``, returning once the server has answered the
    widget's ``conversations.create``: the click returns at once, and the
    agent's side read the conversations before it existed (a CI run)."""
    with page.expect_response(lambda r: r.url.endswith("/widget/conversations.create")) as sent:
        send_first_message(frame, text)
    assert sent.value.status == 201, sent.value.text()


def latest_conversation_with(server: LiveServer, body: str) -> dict[str, Any]:
    r = httpx.post(
        f"{server.base_url}/conversations.list", headers={"Authorization": server.pat}, json={}
    )
    assert r.status_code == 200, r.text
    (conv,) = [c for c in r.json()["conversations"] if c["messages"][-1]["body"] == body]
    return dict(conv)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_screenshot_widget_on_the_demo_shop(
    widget_server: LiveServer, new_context: Any, shots: Path, theme: str
) -> None:
    from playwright.sync_api import expect

    page = new_context(DESKTOP).new_page()
    page.goto(f"{widget_server.base_url}/demo")
    page.wait_for_function("() => window.plugSDK.isPlugInitialized")
    page.evaluate(f"() => window.plugSDK.toggleTheme({theme!r})")
    page.get_by_role("button", name="Open support chat").click()
    frame = page.frame_locator("#plug-widget-frame")
    expect(frame.locator("html")).to_have_attribute("data-theme", theme)
    question = f"Does the walnut stand fit a 32-inch monitor? ({theme})"
    send_and_store(page, frame, question)
    expect(frame.locator("#plug-expect")).to_contain_text("Someone from the team will answer")
    conv = latest_conversation_with(widget_server, question)
    agent_reply(widget_server, conv["id"], "It does: it holds up to 15 kg and 80 cm wide.")
    expect(frame.locator(".msg.theirs .body")).to_have_text(
        ["It does: it holds up to 15 kg and 80 cm wide."]
    )
    frame.get_by_label("Message").fill("Great, thanks!")
    save(page, shots, f"widget-{theme}")


def test_screenshot_widget_at_phone_width(
    widget_server: LiveServer, new_context: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = new_context(PHONE).new_page()
    page.goto(f"{widget_server.base_url}/demo")
    page.wait_for_function("() => window.plugSDK.isPlugInitialized")
    page.get_by_role("button", name="Open support chat").click()
    frame = page.frame_locator("#plug-widget-frame")
    question = "Do you ship to Norway?"
    send_and_store(page, frame, question)
    conv = latest_conversation_with(widget_server, question)
    agent_reply(widget_server, conv["id"], "We do, in 3 to 5 days.")
    expect(frame.locator(".msg.theirs .body")).to_have_text(["We do, in 3 to 5 days."])
    frame.get_by_role("button", name="Back to conversations").click()
    expect(frame.locator(".conv-preview").first).to_contain_text(": We do, in 3 to 5 days.")
    box = page.locator("#plug-widget-frame").bounding_box()
    assert box is not None and box["width"] <= PHONE["width"]
    save(page, shots, "widget-phone")


def test_screenshot_demo_shop(widget_server: LiveServer, new_context: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    page = new_context(DESKTOP).new_page()
    page.goto(f"{widget_server.base_url}/demo")
    page.wait_for_function("() => window.plugSDK.isPlugInitialized")
    snippet = page.locator("pre.snippet")
    expect(snippet).to_contain_text("window.plugSDK.init({")
    # The snippet is shown in full: nothing runs out of its box.
    assert snippet.evaluate("e => e.scrollWidth <= e.clientWidth")
    save(page, shots, "demo", full_page=True)


def test_screenshot_inbox(widget_server: LiveServer, new_context: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    server = widget_server
    ref = f"ada-{secrets.token_hex(3)}@example.com"
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {
            "user_ref": ref, "account_ref": "analytical.example",
            "user_traits": {"display_name": "Ada Lovelace", "email": ref},
            "account_traits": {"display_name": "Analytical Engines Ltd"},
        }})  # fmt: skip
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
    with server.client(token) as c:
        r = c.post("/widget/conversations.create", json={
            "app_id": server.app_id, "body": "My order #1042 has not arrived yet. Can you check?",
        })  # fmt: skip
        assert r.status_code == 201, r.text
        conv_id = r.json()["conversation"]["id"]
    agent_reply(server, conv_id, "Sorry about that! It left our warehouse this morning.")

    page = sign_in(new_context({"width": 1280, "height": 800}).new_page(), server)
    conversation_link(page, "Ada Lovelace").click()
    expect(page.locator(".profile")).to_contain_text("Identified by your website")
    expect(page.locator(".profile")).to_contain_text("Analytical Engines Ltd")
    save(page, shots, "inbox")


def test_screenshot_settings_pages(
    widget_server: LiveServer, new_context: Any, shots: Path
) -> None:
    from playwright.sync_api import expect

    page = sign_in(new_context({"width": 1280, "height": 800}).new_page(), widget_server)
    for page_id, label in SETTINGS_PAGES:
        page.goto(f"{widget_server.base_url}/inbox/settings/{page_id}")
        expect(page.locator("#settings-title")).to_have_text(label)
        expect(page.get_by_text("Loading…")).to_have_count(0)
        save(page, shots, f"settings-{page_id}")
