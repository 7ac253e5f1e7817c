"""Refuse request bodies over a set size with a 413 before reading them all,
so a client cannot make the server buffer arbitrary amounts of data.

One limit for every call, and a larger one for the few paths that take
more by nature (``per_path``: the inbound mail webhook takes whole mails).
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openplug.errors import PayloadTooLarge
from openplug.ids import ascii_int
from openplug.web.errors import api_error_response

# Any length a client may declare; a longer number is read as if undeclared.
_MAX_DECLARED = 2**63 - 1


def body_headers(scope: Scope) -> tuple[bytes | None, bool]:
    """The request's ``Content-Length`` (as sent) and whether it is chunked,
    in one pass over the headers."""
    length = None
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = True
    return length, chunked


def without_body(scope: Scope, length: bytes | None, chunked: bool) -> bool:
    """A GET or HEAD that declares no body (no length, not chunked): the
    body layers let it through untouched. Any other request without a
    length may still send a body (HTTP/2 need not declare it), so it is
    counted and checked as it is read."""
    return length is None and not chunked and scope["method"] in ("GET", "HEAD")


class BodySizeLimit:
    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        per_path: Mapping[str, int] | None = None,
        unlimited_prefixes: tuple[str, ...] = (),
    ) -> None:
        """``unlimited_prefixes``: paths whose handler streams the body and
        enforces its own limit as it reads (file uploads)."""
        self.app = app
        self.unlimited_prefixes = unlimited_prefixes
        self.max_bytes = max_bytes
        self.per_path = dict(per_path or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.unlimited_prefixes and scope["path"].startswith(self.unlimited_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        length, chunked = body_headers(scope)
        if without_body(scope, length, chunked):
            await self.app(scope, receive, send)
            return
        max_bytes = self.per_path.get(scope["path"], self.max_bytes)
        declared = None if length is None else ascii_int(length.decode("latin-1"), _MAX_DECLARED)
        if declared is not None:
            if declared > max_bytes:
                await self._refuse(scope, receive, send, max_bytes)
            else:
                # The HTTP server delivers no more than the declared length.
                await self.app(scope, receive, send)
            return
        # Without (or despite) a Content-Length, read at most the limit.
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > max_bytes:
                await self._refuse(scope, receive, send, max_bytes)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, max_bytes: int) -> None:
        response = api_error_response(
            PayloadTooLarge(f"request body is larger than {max_bytes} bytes")
        )
        await response(scope, receive, send)
