"""Files in the widget and the inbox, in headless Chromium: a visitor pastes
a screenshot and the agent sees it live; the agent attaches a PDF and the
visitor downloads it; a file over the limit or of a type not allowed is
refused in words, and one that failed on the way is retried, without
losing the typed text; HTML and SVG are only ever download links; the
upload shows its progress.

One server and one browser for the module. No sleeps: every wait is a
Playwright expectation or a wait on a condition in the page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from tests.artifacts.helpers import executable_bytes, pdf_bytes
from tests.e2e.conftest import HostSite, openplug_cli
from tests.e2e.test_inbox import conversation_link, sign_in
from tests.e2e.test_widget import host_page, open_widget, page_url, send_first_message, visitor_name
from tests.live_server import LiveServer, make_settings

# In the page: make a File and hand it to the chat as the browser would,
# pasted into the composer or dropped onto the conversation.
PASTE = """([name, type, b64]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, { type }));
  document.getElementById('plug-input').dispatchEvent(
    new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
}"""
DROP = """([name, size]) => {
  const data = new DataTransfer();
  data.items.add(new File([new Uint8Array(size).fill(97)], name, { type: 'text/plain' }));
  const zone = document.getElementById('plug-conv-view');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    const init = { dataTransfer: data, bubbles: true, cancelable: true };
    zone.dispatchEvent(new DragEvent(type, init));
  }
}"""
SCREENSHOT = re.compile(r"^screenshot-[0-9-]+\.png$")
# What the visitor's SVG and HTML would do if a browser ever ran them.
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40" onload="top.filesRan=1">'
    b"<script>console.log('file script ran'); top.filesRan = 1;</script>"
    b'<rect width="40" height="40" fill="red"/></svg>'
)
HTML = (
    b"<!doctype html><html><body>"
    b"<script>console.log('file script ran'); top.filesRan = 1;</script></body></html>"
)


def png(color: tuple[int, int, int] = (30, 120, 200), size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def files_server(
    tmp_path_factory: pytest.TempPathFactory, host_site: HostSite, browser: Any
) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("files-ui"), None)
    # HTML and SVG allowed here (they are not by default) to show that even
    # then the UI never renders them.
    settings.allowed_upload_types += ",text/html,image/svg+xml"
    server = LiveServer(settings).start()
    try:
        openplug_cli(
            server.settings.data_dir, "apps", "update", server.app_id,
            "--origin", server.base_url, "--origin", host_site.origin,
        )  # fmt: skip
        yield server
    finally:
        server.stop()


@pytest.fixture
def visitor(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context()
    yield ctx.new_page()
    ctx.close()


@pytest.fixture(scope="module")
def inbox(browser: Any, files_server: LiveServer) -> Iterator[Any]:
    """One agent signed in for the module: each test opens its own visitor's
    conversation there."""
    ctx = browser.new_context()
    try:
        yield sign_in(ctx.new_page(), files_server)
    finally:
        ctx.close()


def start_chat(server: LiveServer, site: HostSite, page: Any, inbox: Any, text: str) -> Any:
    """The visitor's widget with a first message, open in the agent's inbox too."""
    from playwright.sync_api import expect

    page.goto(page_url(site, host_page(server)))
    frame = open_widget(page)
    name = visitor_name(frame)
    send_first_message(frame, text)
    expect(frame.locator(".msg.mine .body")).to_have_text([text])
    conversation_link(inbox, name).click()
    expect(inbox.locator(".message.from-visitor .body")).to_have_text([text])
    return frame


def b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def loaded(img: Any) -> int:
    """The <img> shows a decoded picture (its URL answered, under the page's
    CSP): its natural width, once loaded."""
    width: int = img.evaluate(
        """(el) => new Promise((resolve) => {
          if (el.complete) return resolve(el.naturalWidth);
          el.addEventListener('load', () => resolve(el.naturalWidth));
          el.addEventListener('error', () => resolve(0));
        })"""
    )
    assert width > 0, "the picture did not load"
    return width


def test_a_pasted_screenshot_reaches_the_agent_live_as_a_thumbnail_that_opens_full_size(
    files_server: LiveServer, host_site: HostSite, visitor: Any, inbox: Any
) -> None:
    from playwright.sync_api import expect

    frame = start_chat(files_server, host_site, visitor, inbox, "The checkout shows an error")
    frame.locator("body").evaluate(
        f"(_, a) => ({PASTE})(a)", ["image.png", "image/png", b64(png())]
    )
    pending = frame.locator(".pending-file")
    expect(pending.locator(".file-name")).to_have_text([SCREENSHOT])
    expect(pending.locator(".file-state")).to_have_text("Ready")
    frame.get_by_role("button", name="Send").click()  # files alone, no text
    expect(pending).to_have_count(0)

    # The agent's open conversation shows it without a reload, as a picture.
    thumb = inbox.locator(".message.from-visitor .file-thumb img")
    expect(thumb).to_have_count(1)
    expect(thumb).to_have_attribute("alt", SCREENSHOT)
    loaded(thumb)
    inbox.get_by_role("button", name="Open screenshot-").click()
    viewer = inbox.get_by_role("dialog")
    assert loaded(viewer.locator("img")) == 400  # full size, not the thumbnail
    inbox.keyboard.press("Escape")
    expect(viewer).to_have_count(0)
    # And on the visitor's side, their own message is the same picture.
    loaded(frame.locator(".msg.mine .file-thumb img"))


def test_the_agent_attaches_a_pdf_and_the_visitor_downloads_it(
    files_server: LiveServer, host_site: HostSite, visitor: Any, inbox: Any
) -> None:
    from playwright.sync_api import expect

    frame = start_chat(files_server, host_site, visitor, inbox, "Can I have my invoice?")
    inbox.locator("#reply-file").set_input_files(
        files=[{"name": "invoice.pdf", "mimeType": "application/pdf", "buffer": pdf_bytes()}]
    )
    expect(inbox.locator(".pending-file .file-state")).to_have_text("Ready")
    inbox.get_by_label("Reply").fill("Here it is.")
    inbox.get_by_label("Reply").press("Enter")
    expect(inbox.locator(".message.from-agent .file-link")).to_have_count(1)

    link = frame.get_by_role("link", name="Download invoice.pdf")
    expect(link).to_be_visible()
    expect(frame.locator(".msg.theirs .body")).to_have_text(["Here it is."])
    with visitor.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "invoice.pdf"
    with open(download.path(), "rb") as f:
        assert f.read() == pdf_bytes()


def test_refused_and_failed_files_are_said_and_the_text_stays_for_another_try(
    files_server: LiveServer, host_site: HostSite, visitor: Any, inbox: Any
) -> None:
    from playwright.sync_api import expect

    frame = start_chat(files_server, host_site, visitor, inbox, "Here is the recording")
    frame.get_by_label("Message").fill("The video and a screenshot")
    frame.locator("body").evaluate(f"(_, a) => ({DROP})(a)", ["recording.txt", 30 * 1024 * 1024])
    note = frame.get_by_role("alert")
    expect(note).to_have_text(
        "recording.txt was not attached: it is larger than the limit of 25 MB."
    )
    expect(frame.locator(".pending-file")).to_have_count(0)
    expect(frame.get_by_label("Message")).to_have_value("The video and a screenshot")

    # A program dressed as a picture is refused for what its bytes are.
    frame.locator("#plug-file").set_input_files(
        files=[{"name": "cat.png", "mimeType": "image/png", "buffer": executable_bytes()}]
    )
    expect(note).to_have_text(
        "cat.png was not attached: this type of file (application/x-msdownload) is not allowed."
    )
    expect(frame.locator(".pending-file")).to_have_count(0)

    # Files that fit, two at once, while the connection fails: they wait to
    # be retried, and Send neither sends without them nor drops the text.
    visitor.route("**/artifacts/upload/**", lambda route: route.abort())
    frame.locator("#plug-file").set_input_files(
        files=[
            {"name": "error.png", "mimeType": "image/png", "buffer": png((200, 40, 40))},
            {"name": "log.txt", "mimeType": "text/plain", "buffer": b"E: it broke\n"},
        ]
    )
    states = frame.locator(".pending-file .file-state")
    expect(states).to_have_text(["Not uploaded", "Not uploaded"])
    frame.get_by_role("button", name="Send").click()
    expect(note).to_have_text("Retry or remove the files that did not upload, then send.")
    expect(frame.get_by_label("Message")).to_have_value("The video and a screenshot")
    visitor.unroute("**/artifacts/upload/**")
    frame.get_by_role("button", name="Retry error.png").click()
    frame.get_by_role("button", name="Retry log.txt").click()
    expect(states).to_have_text(["Ready", "Ready"])
    frame.get_by_role("button", name="Send").click()
    mine = frame.locator(".msg.mine").last
    expect(mine.locator(".body")).to_have_text("The video and a screenshot")
    loaded(mine.locator(".file-thumb img"))
    expect(mine.get_by_role("link", name="Download log.txt (12 B)")).to_be_visible()
    expect(frame.get_by_label("Message")).to_have_value("")
    last = inbox.locator(".message.from-visitor").last
    expect(last.locator(".file-thumb img")).to_have_attribute("alt", "error.png")
    expect(last.locator(".file-link")).to_have_text(["log.txt12 B"])


def test_html_and_svg_files_are_download_links_and_never_run(
    files_server: LiveServer, host_site: HostSite, visitor: Any, inbox: Any
) -> None:
    from playwright.sync_api import expect

    logs: list[str] = []
    for page in (visitor, inbox):
        page.on("console", lambda m: logs.append(m.text))
    frame = start_chat(files_server, host_site, visitor, inbox, "Our page looks broken")
    frame.locator("#plug-file").set_input_files(
        files=[
            {"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": SVG},
            {"name": "page.html", "mimeType": "text/html", "buffer": HTML},
        ]
    )
    expect(frame.locator(".pending-file .file-state")).to_have_text(["Ready", "Ready"])
    frame.get_by_role("button", name="Send").click()

    last = inbox.locator(".message.from-visitor").last
    expect(last.locator(".file-link")).to_have_count(2)
    for side in (last, frame.locator(".msg.mine").last):
        expect(side.get_by_role("link", name=f"Download logo.svg ({len(SVG)} B)")).to_be_visible()
        expect(side.get_by_role("link", name=f"Download page.html ({len(HTML)} B)")).to_be_visible()
        expect(side.locator("img, iframe, object, embed")).to_have_count(0)
    # Opened by the agent, they are downloads, not pages.
    for name, data in (("logo.svg", SVG), ("page.html", HTML)):
        with inbox.expect_download() as info:
            last.get_by_role("link", name=f"Download {name}").click()
        with open(info.value.path(), "rb") as f:
            assert f.read() == data
    assert inbox.url.startswith(f"{files_server.base_url}/inbox")
    for page in (visitor, inbox):
        assert page.evaluate("() => window.filesRan") is None
    assert frame.locator("body").evaluate("() => window.filesRan") is None
    assert "file script ran" not in logs


def test_upload_progress_shows_while_a_large_file_goes_up(
    files_server: LiveServer, host_site: HostSite, visitor: Any, inbox: Any
) -> None:
    from playwright.sync_api import expect

    frame = start_chat(files_server, host_site, visitor, inbox, "Sending the export")
    # A slow uplink (2 MB at 1 MB/s), so that the upload is seen under way.
    cdp = visitor.context.new_cdp_session(visitor)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 1_000_000},
    )
    frame.locator("body").evaluate(f"(_, a) => ({DROP})(a)", ["export.txt", 2 * 1024 * 1024])
    bar = frame.get_by_role("progressbar", name="Uploading export.txt")
    expect(bar).to_be_visible()
    # Part of the way: more than nothing, less than all.
    frame.locator("body").evaluate(
        """() => new Promise((resolve) => {
          const check = () => {
            const bar = document.querySelector('[role=progressbar]');
            const v = bar && Number(bar.getAttribute('aria-valuenow'));
            if (v > 0 && v < 100) resolve(v); else requestAnimationFrame(check);
          };
          check();
        })"""
    )
    expect(frame.locator(".pending-file .file-state")).to_have_text("Ready", timeout=20_000)
    expect(bar).to_have_count(0)
