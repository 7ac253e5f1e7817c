"""openplug's HTML pages answer HEAD as they answer GET (link checkers and
uptime monitors ask with HEAD; it was a 405), without a body."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import LiveServer, make_settings


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = LiveServer(make_settings(Path(tmp_path_factory.mktemp("pages")), None)).start()
    yield live
    live.stop()


@pytest.mark.parametrize(
    "path", ["/widget/frame?app_id={app}", "/demo", "/inbox", "/inbox/settings/apps", "/docs"]
)
def test_head_answers_like_get_without_a_body(server: LiveServer, path: str) -> None:
    url = path.format(app=server.app_id)
    with server.client() as c:
        got, head = c.get(url), c.head(url)
    assert got.status_code == head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers.get("content-security-policy") == got.headers.get("content-security-policy")


def test_the_demo_page_asks_for_no_favicon(server: LiveServer) -> None:
    """A browser asks /favicon.ico of a page that names no icon: a 404 in
    every newcomer's log."""
    with server.client() as c:
        assert '<link rel="icon" href="data:,">' in c.get("/demo").text
