"""Refuse NUL characters in everything a request says, on every backend.

PostgreSQL ``text`` (and ``jsonb``) cannot hold U+0000: a NUL in any string
that reaches the database failed there, as a 500 on PostgreSQL and a stored
value on SQLite. Rather than a check per field, this middleware looks at
every request's query string and body, the one path all of them take, so
that no field (a ``user_ref``, a custom text field, a token hint, an app
name, a sign-in email, a field added next year) is left out, and both
backends give the same answer: 400 ``invalid_field`` naming the value's
JSON path, e.g. ``rev_info.user_traits.custom_fields.tnt__x``.

- The query string is checked at once (no call authenticates from it).
- The body is checked as the call reads it, and the refusal is raised from
  that read: a call that authenticates first (every widget call,
  ``auth-tokens.create``) still answers a bad credential with 401 before
  anything about its body. A call that never reads its body stores nothing
  from it, so nothing is refused.

The cost on the hot path is a substring search over the body's bytes for
the only ways JSON (``\\u0000``) and forms (``%00``, a raw NUL byte) can
spell a NUL; only a body that matches is decoded to find the field (and
passed on unchanged if the match was not a NUL, as in ``"\\\\u0000"``).

JSON that embeds JSON in a string (``auth-tokens.create``'s
``subject_token``) is checked where it is decoded, with ``nul_path``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openplug.errors import ApiError, BadRequest, InvalidField
from openplug.web.errors import ApiErrorWhileReading, api_error_response
from openplug.web.validation import json_path

REASON = "must not contain NUL characters"
_NUL = "\x00"
# How a NUL can be spelled in a JSON body, a form body or a query string.
_JSON_NUL, _PERCENT_NUL, _RAW_NUL = b"\\u0000", b"%00", b"\x00"
_FORM = b"application/x-www-form-urlencoded"


def nul_refusal(path: str) -> ApiError:
    """The refusal for a NUL at ``path`` (a JSON path or a parameter name;
    empty when the body is itself one JSON string)."""
    if not path:
        return BadRequest(f"the request body {REASON}")
    return InvalidField(path, f"{path}: {REASON}")


def nul_path(value: Any, prefix: tuple[str | int, ...] = ()) -> str | None:
    """The JSON path of the first string (value or key) in ``value`` that
    holds a NUL, or None. A key is named by its own path, its NUL shown as
    ``\\u0000``. Iterative: decoded JSON may nest deeper than Python's
    recursion limit."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [(prefix, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if _NUL in item:
                return json_path(path)
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if isinstance(key, str) and _NUL in key:
                    return json_path((*path, key.replace(_NUL, "\\u0000")))
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))
    return None


def _query_nul(query_string: bytes) -> str | None:
    if _PERCENT_NUL not in query_string and _RAW_NUL not in query_string:
        return None
    for name, value in QueryParams(query_string).multi_items():
        if _NUL in name or _NUL in value:
            return name.replace(_NUL, "\\u0000")
    return None


def _may_hold_nul(body: bytes) -> bool:
    return _JSON_NUL in body or _PERCENT_NUL in body or _RAW_NUL in body


def _body_nul(body: bytes, content_type: bytes) -> str | None:
    """The path of a NUL in ``body``; None when there is none, and when the
    body is not a form or JSON at all (the call refuses that itself)."""
    if content_type.split(b";", 1)[0].strip().lower() == _FORM:
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if _NUL in name or _NUL in value:
                return name.replace(_NUL, "\\u0000")
        return None
    if _JSON_NUL not in body:
        return None
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return nul_path(decoded)


class RefuseNul:
    """ASGI middleware; see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        field = _query_nul(scope.get("query_string", b""))
        if field is not None:
            await api_error_response(nul_refusal(field))(scope, receive, send)
            return
        parts: list[bytes] = []

        async def checked_receive() -> Message:
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            if message.get("more_body", False):
                parts.append(chunk)
                return message
            body = b"".join((*parts, chunk)) if parts else chunk
            parts.clear()
            if _may_hold_nul(body):
                content_type = dict(scope["headers"]).get(b"content-type", b"")
                found = _body_nul(body, content_type)
                if found is not None:
                    raise ApiErrorWhileReading(nul_refusal(found), body)
            return message

        await self.app(scope, checked_receive, send)
