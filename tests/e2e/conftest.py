"""Browser fixtures: Debian's Chromium driven by Playwright (never a
downloaded browser), a real openplug server on loopback, and a host website
on another origin (another port) that pastes the snippet.

Without /usr/bin/chromium or the playwright package the tests skip with
the reason, or fail under OPENPLUG_TEST_REQUIRE_ALL=1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import missing_backend
from tests.live_server import LiveServer, make_settings
from tests.test_cli import run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    # Module scope, not session: Playwright's sync API keeps its own event
    # loop marked as running in this thread until it stops, which would
    # break every asyncio test that runs after the browser tests.
    if not Path(CHROMIUM).exists():
        missing_backend(f"{CHROMIUM} not found (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_backend("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@dataclass
class HostSite:
    """A website on its own origin: pages are registered by path."""

    port: int
    pages: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_origin(self) -> str:
        """The same server under a name the app does not allow."""
        return f"http://localhost:{self.port}"

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    site = HostSite(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            html = site.pages.get(self.path.split("?")[0])
            body = (html or "not found").encode()
            self.send_response(200 if html else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield site
    httpd.shutdown()


def openplug_cli(data_dir: Path, *args: str) -> dict[str, Any]:
    done = run(data_dir, *args, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def widget_server(
    tmp_path_factory: pytest.TempPathFactory, host_site: HostSite, browser: Any
) -> Iterator[LiveServer]:
    """One server for a module's browser tests (each test uses fresh browser
    contexts, so visitors never overlap); the host site's origin is added
    to the demo app's allowed origins with the CLI, as an operator would."""
    server = LiveServer(make_settings(tmp_path_factory.mktemp("openplug"), None)).start()
    try:
        app = openplug_cli(
            server.settings.data_dir, "apps", "update", server.app_id,
            "--origin", server.base_url, "--origin", host_site.origin,
        )  # fmt: skip
        assert host_site.origin in app["allowed_origins"]
        yield server
    finally:
        server.stop()


def session_token(server: LiveServer, user_ref: str, **traits: Any) -> str:
    r = httpx.post(
        f"{server.base_url}/auth-tokens.create",
        headers={"Authorization": server.aat},
        json={"rev_info": {"user_ref": user_ref, "user_traits": traits}},
    )
    assert r.status_code == 201, r.text
    token: str = r.json()["access_token"]
    return token
