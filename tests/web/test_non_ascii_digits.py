"""Ids, cursors and socket topics are ASCII digits only, on every call.

``str.isdigit`` is true for U+00B2 SUPERSCRIPT TWO (which ``int`` then
refuses: a 500) and for other scripts' digits such as U+0661 ARABIC-INDIC
DIGIT ONE (which ``int`` reads as 1: an alias of ``REVU-1``). Each must be
a 400 naming the field, or on a socket an error frame, never a 500, a 1011
close or another record.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tests.conversations.helpers import anonymous_session, start_conversation, widget
from tests.live_server import LiveServer
from tests.realtime.test_sockets import visitor_socket

# Superscript two (``int`` refuses it), Arabic-Indic one and fullwidth one
# (``int`` reads both as 1, and REVU-1 / CONV-1 exist in these tests).
DIGITS = ["\u00b2", "\u0661", "\uff11"]


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _agent_calls(digit: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, parameters, the field the answer must name)."""
    user, acc, org, conv = f"REVU-{digit}", f"ACC-{digit}", f"REV-{digit}", f"CONV-{digit}"
    return [
        ("GET", "/rev-users.get", {"id": user}, "id"),
        ("POST", "/rev-users.get", {"id": user}, "id"),
        ("POST", "/rev-users.update", {"id": user, "display_name": "x"}, "id"),
        ("POST", "/rev-users.update", {"id": "REVU-1", "rev_org": org}, "rev_org"),
        ("POST", "/rev-users.delete", {"id": user}, "id"),
        ("POST", "/rev-users.revoke-sessions", {"id": user}, "id"),
        ("GET", "/rev-users.list", {"rev_org": org}, "rev_org"),
        ("GET", "/rev-users.list", {"cursor": _cursor(f"v1:{digit}")}, "cursor"),
        ("POST", "/accounts.get", {"id": acc}, "id"),
        ("POST", "/accounts.update", {"id": acc, "tier": "x"}, "id"),
        ("POST", "/accounts.list", {"cursor": _cursor(f"v1:1{digit}")}, "cursor"),
        ("POST", "/rev-orgs.get", {"id": org}, "id"),
        ("POST", "/rev-orgs.update", {"id": org, "tier": "x"}, "id"),
        ("POST", "/rev-orgs.update", {"id": "REV-1", "account": acc}, "account"),
        ("POST", "/rev-orgs.list", {"account": [acc]}, "account"),
        ("POST", "/conversations.create", {"members": [user]}, "members[0]"),
        ("POST", "/conversations.get", {"id": conv}, "id"),
        ("POST", "/conversations.update", {"id": conv, "title": "x"}, "id"),
        ("POST", "/conversations.mark-read", {"id": conv}, "id"),
        ("POST", "/conversations.list", {"members": [user]}, "members"),
        ("POST", "/conversations.list", {"cursor": _cursor(f"c1:{digit}:1")}, "cursor"),
        ("POST", "/conversations.list", {"cursor": _cursor(f"c1:1:{digit}")}, "cursor"),
        ("POST", "/timeline-entries.create", {"object": conv, "body": "x"}, "object"),
        ("POST", "/timeline-entries.list", {"object": conv}, "object"),
        ("POST", "/auth-tokens.get", {"token_id": f"abc{digit}"}, "token_id"),
    ]


def _widget_calls(digit: str) -> list[tuple[str, dict[str, Any]]]:
    conv = f"CONV-{digit}"
    return [
        ("conversations.get", {"conversation": conv}),
        ("messages.create", {"conversation": conv, "body": "x"}),
        ("messages.list", {"conversation": conv}),
        ("conversations.mark-read", {"conversation": conv}),
    ]


def _problems(r: httpx.Response, what: str, field: str) -> list[str]:
    if r.status_code != 400:
        return [f"{what}: {r.status_code} {r.text[:200]}"]
    body = r.json()
    # An id is DevRev's invalid_id; a cursor is no id.
    expected = "invalid_field" if field == "cursor" else "invalid_id"
    if body.get("type") != expected or body.get("field_name") != field:
        return [f"{what}: {body}"]
    return []


async def test_non_ascii_digits_are_a_400_naming_the_field(any_server: LiveServer) -> None:
    server = any_server
    # REVU-1 (with REV-1 and ACC-1) and CONV-1 exist, so an alias would be found.
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create",
            json={"rev_info": {"user_ref": "u1", "account_ref": "a1", "workspace_ref": "w1"}},
        )
        assert r.status_code == 201, r.text
    token = anonymous_session(server)["session_token"]
    start_conversation(server, token)

    problems: list[str] = []
    for digit in DIGITS:
        for method, path, params, field in _agent_calls(digit):
            # A fresh connection each time: after a 500 the server closes it.
            with server.client(server.pat) as c:
                r = c.get(path, params=params) if method == "GET" else c.post(path, json=params)
            problems += _problems(r, f"{method} {path} {params}", field)
        for path, body in _widget_calls(digit):
            problems += _problems(widget(server, token, path, **body), path, "conversation")
    assert not problems, "\n".join(problems)


async def test_non_ascii_digits_in_socket_topics_get_an_error_frame(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    start_conversation(server, token)
    async with visitor_socket(server, token) as visitor:
        for digit in DIGITS:
            for topic in (f"conversation:{digit}", f"user:{digit}", f"conversation:1{digit}"):
                await visitor.send(type="subscribe", topic=topic)
                frame = await visitor.next()
                assert frame["type"] == "error" and frame["topic"] == topic, frame
        # Still open and answering.
        await visitor.barrier()
