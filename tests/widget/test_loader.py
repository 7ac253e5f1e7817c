"""``/static/plug.js``: the readable source, served minified and gzipped."""

from __future__ import annotations

import gzip
import re

from openplug.widget.loader import LOADER, SOURCE
from tests.live_server import LiveServer

TEMPLATE = re.compile(r"`[^`]*`")
# The gzipped loader may not grow past this (issue 12 asks for 3 KiB; the
# source is not there yet: see README, "The widget").
MAX_GZIPPED_BYTES = 3700


def test_every_template_literal_survives_minifying() -> None:
    """rjsmin treats a template literal as text only when none is nested
    in it (one that was lost the spaces of the launcher's label)."""
    source = SOURCE.read_text(encoding="utf-8")
    code = "\n".join(
        line for line in source.splitlines() if not line.lstrip().startswith(("//", "*", "/*"))
    )
    templates = TEMPLATE.findall(code)
    assert templates, "the source has template literals to check"
    minified = LOADER.plain.decode()
    assert TEMPLATE.findall(minified) == templates


def test_served_gzipped_to_a_browser_that_takes_it(server: LiveServer) -> None:
    with server.client() as c:
        r = c.get("/static/plug.js", headers={"Accept-Encoding": "gzip"})
        assert r.status_code == 200
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert "accept-encoding" in r.headers["vary"].lower()
        assert r.content == LOADER.plain  # httpx decoded it
        assert gzip.decompress(LOADER.gzipped) == LOADER.plain
        plain = c.get("/static/plug.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers
        assert plain.content == LOADER.plain
        assert len(LOADER.plain) < len(SOURCE.read_bytes())


def test_a_cached_copy_is_revalidated_with_its_etag(server: LiveServer) -> None:
    with server.client() as c:
        etag = c.get("/static/plug.js").headers["etag"]
        again = c.get("/static/plug.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        head = c.head("/static/plug.js", headers={"Accept-Encoding": "gzip"})
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(LOADER.gzipped))


def test_the_gzipped_loader_stays_small() -> None:
    assert len(LOADER.gzipped) <= MAX_GZIPPED_BYTES, len(LOADER.gzipped)
