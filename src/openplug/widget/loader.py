"""``/static/plug.js`` as a customer's pages get it: minified and gzipped
once, when the server starts.

Every page of a site with the widget loads this script, so its size is paid
on every first visit. The repository keeps one readable source
(``static/plug.js``); rjsmin drops its comments and blanks (it renames
nothing, so the script behaves as written) and the gzip is made once, so a
request costs a header check. rjsmin leaves the text of a template literal
alone unless one is nested in another, so the source nests none
(``tests/widget/test_loader.py`` checks that every one survives).
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

import rjsmin
from fastapi import Request, Response

SOURCE = Path(__file__).parent / "static" / "plug.js"
MEDIA_TYPE = "text/javascript; charset=utf-8"


@dataclass(frozen=True)
class Loader:
    plain: bytes
    gzipped: bytes
    etag: str

    @classmethod
    def build(cls, source: str) -> Loader:
        plain = str(rjsmin.jsmin(source)).encode()
        # mtime=0: the same bytes (and ETag) from every process and restart.
        gzipped = gzip.compress(plain, compresslevel=9, mtime=0)
        return cls(plain, gzipped, f'"{hashlib.sha256(plain).hexdigest()[:32]}"')

    def response(self, request: Request) -> Response:
        # no-cache: a browser keeps it but asks again (a 304 while the
        # ETag holds), so a new openplug reaches every page at once.
        headers = {"ETag": self.etag, "Vary": "Accept-Encoding", "Cache-Control": "no-cache"}
        if self.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = self.plain
        if "gzip" in request.headers.get("accept-encoding", ""):
            body, headers["Content-Encoding"] = self.gzipped, "gzip"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            body = b""
        return Response(body, media_type=MEDIA_TYPE, headers=headers)


LOADER = Loader.build(SOURCE.read_text(encoding="utf-8"))
