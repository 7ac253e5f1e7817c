"""``/docs`` in headless Chromium with every request to another origin
blocked, as on a machine without internet: Swagger UI still shows the API
from openplug's own files."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live_server import LiveServer, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(tmp_path_factory.mktemp("openplug"), None)).start()
    yield live
    live.stop()


def test_the_api_docs_work_offline(server: LiveServer, browser: Any) -> None:
    from playwright.sync_api import expect

    context = browser.new_context()
    elsewhere: list[str] = []

    def offline(route: Any) -> None:
        if route.request.url.startswith(server.base_url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort("internetdisconnected")

    context.route("**/*", offline)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{server.base_url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("openplug")
        operation = page.locator(".opblock").filter(has_text="/auth-tokens.create").first
        expect(operation).to_be_visible()
        operation.locator(".opblock-summary").click()  # it opens, rendered from the schema
        expect(operation.get_by_text("rev_info").first).to_be_visible()
        assert elsewhere == [] and errors == []
    finally:
        context.close()
