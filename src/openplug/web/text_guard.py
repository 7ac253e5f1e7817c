"""Refuse text the database cannot store, in everything a request says.

Two kinds of string get past JSON parsing and field validation and then
fail at the database: a NUL (U+0000), which PostgreSQL ``text`` and
``jsonb`` cannot hold (a 500 there, stored as sent on SQLite), and an
unpaired surrogate half (``"\\ud800"``), which is no Unicode text at all
(a 500 on both: UTF-8 cannot encode it; pydantic refuses it in ``str``
fields, but not in a custom field's free-form value, which SQLite then
stored and every later read of the record failed on). Rather than a check
per field, this middleware looks at every request's query string and body,
the one path all of them take, so no field (a ``user_ref``, a custom text
field, a token hint, an app name, a sign-in email, a field added next
year) is left out, and both backends answer alike: 400 ``invalid_field``
naming the value's JSON path, e.g. ``rev_info.user_traits.custom_fields.tnt__x``.

- The query string is checked at once (no call authenticates from it).
- The body is checked as the call reads it, and the refusal is raised from
  that read: a call that authenticates first (every widget call,
  ``auth-tokens.create``) still answers a bad credential with 401 before
  anything about its body. A call that never reads its body stores nothing
  from it, so nothing is refused.

The cost on the hot path is a substring search over the body's bytes for
the only ways JSON can spell these (``\\u0000``, ``\\ud``/``\\uD``) and a
form can spell a NUL (``%00``, a raw NUL byte); only a body that matches
is decoded to find the field (and passed on unchanged if the match was
something else, as in ``"\\\\u0000"`` or a valid surrogate pair).

JSON that embeds JSON in a string (``auth-tokens.create``'s
``subject_token``) is checked where it is decoded, with ``text_refusal``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openplug.errors import ApiError, BadRequest, InvalidField
from openplug.web.body_limit import body_headers, without_body
from openplug.web.errors import ApiErrorWhileReading, api_error_response
from openplug.web.validation import json_path

NUL_REASON = "must not contain NUL characters"
SURROGATE_REASON = "must be Unicode text: no unpaired surrogate halves (\\ud800-\\udfff)"
_NUL = "\x00"
# How these can be spelled in a JSON body, a form body or a query string.
_JSON_NUL, _JSON_SURROGATES = b"\\u0000", (b"\\ud", b"\\uD")
_PERCENT_NUL, _RAW_NUL = b"%00", b"\x00"
_FORM = b"application/x-www-form-urlencoded"

Path = tuple[str | int, ...]


def unstorable_reason(text: str) -> str | None:
    """Why ``text`` cannot be stored, or None (also the CLI's check)."""
    if _NUL in text:
        return NUL_REASON
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_REASON
    return None


def _shown(key: str) -> str:
    """A key as its path names it: a NUL or surrogate as its ``\\uXXXX``."""
    return "".join(
        f"\\u{ord(c):04x}" if c == _NUL or 0xD800 <= ord(c) <= 0xDFFF else c for c in key
    )


def _refusal(path: str, reason: str) -> ApiError:
    if not path:  # the body is itself one JSON string
        return BadRequest(f"the request body {reason}")
    return InvalidField(path, f"{path}: {reason}")


def text_refusal(value: Any, prefix: Path = ()) -> ApiError | None:
    """The 400 for the first string (value or key) in decoded JSON ``value``
    that cannot be stored, named by its JSON path under ``prefix``; None
    when there is none. Iterative: decoded JSON may nest deeper than
    Python's recursion limit."""
    stack: list[tuple[Path, Any]] = [(prefix, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if (reason := unstorable_reason(item)) is not None:
                return _refusal(json_path(path), reason)
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                if isinstance(key, str) and (reason := unstorable_reason(key)) is not None:
                    return _refusal(json_path((*path, _shown(key))), reason)
                stack.append(((*path, key), child))
        elif isinstance(item, list):
            stack.extend(((*path, i), child) for i, child in reversed(list(enumerate(item))))
    return None


def _query_refusal(query_string: bytes) -> ApiError | None:
    """Percent-decoding replaces what is not UTF-8, so only a NUL can hide here."""
    if _PERCENT_NUL not in query_string and _RAW_NUL not in query_string:
        return None
    for name, value in QueryParams(query_string).multi_items():
        if _NUL in name or _NUL in value:
            return _refusal(_shown(name), NUL_REASON)
    return None


def _may_hold_bad_text(body: bytes) -> bool:
    return (
        _JSON_NUL in body
        or _JSON_SURROGATES[0] in body
        or _JSON_SURROGATES[1] in body
        or _PERCENT_NUL in body
        or _RAW_NUL in body
    )


def _body_refusal(body: bytes, content_type: bytes) -> ApiError | None:
    """The 400 for ``body``; None when it is fine, and when it is not a form
    or JSON at all (the call refuses that itself)."""
    if content_type.split(b";", 1)[0].strip().lower() == _FORM:
        for name, value in parse_qsl(body.decode("latin-1"), keep_blank_values=True):
            if _NUL in name or _NUL in value:
                return _refusal(_shown(name), NUL_REASON)
        return None
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return text_refusal(decoded)


class TextGuard:
    """ASGI middleware; see the module's docstring."""

    def __init__(self, app: ASGIApp, skip_prefixes: tuple[str, ...] = ()) -> None:
        self.app = app
        self.skip_prefixes = skip_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            self.skip_prefixes and scope["path"].startswith(self.skip_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        refused = _query_refusal(query) if query else None
        if refused is not None:
            await api_error_response(refused)(scope, receive, send)
            return
        if without_body(scope, *body_headers(scope)):
            await self.app(scope, receive, send)
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
            if _may_hold_bad_text(body):
                content_type = dict(scope["headers"]).get(b"content-type", b"")
                problem = _body_refusal(body, content_type)
                if problem is not None:
                    raise ApiErrorWhileReading(problem, body)
            return message

        await self.app(scope, checked_receive, send)
