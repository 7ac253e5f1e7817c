"""Every widget call checks the visitor's credential before its body: a
missing or bad token is a 401 even when the body is wrong too (it was a
400, and the widget showed an error instead of asking for a new token)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conversations.helpers import (
    anonymous_session,
    assert_error,
    expired_token,
    identified_token,
    second_app,
    start_conversation,
    widget,
)
from tests.live_server import LiveServer

CALLS = [
    "logout",
    "merge",
    "conversations.list",
    "conversations.get",
    "conversations.create",
    "messages.create",
    "messages.list",
    "conversations.mark-read",
]


def _bad_bodies(app_id: str) -> list[tuple[str, bytes | dict[str, Any]]]:
    return [
        ("not JSON", b"{not json"),
        ("not UTF-8", b"\xbb\xff"),  # the fuzzer's finding: a 500 once hand-served
        ("empty", b""),
        ("a JSON list", [1, 2]),
        ("no app_id", {}),
        ("app_id of the wrong type", {"app_id": 5}),
        ("an unknown field", {"app_id": app_id, "nope": 1}),
        ("a required field missing", {"app_id": app_id}),
        ("a value too long", {"app_id": app_id, "conversation": "x" * 300, "body": "x" * 20_000}),
        ("a NUL character", {"app_id": app_id, "conversation": "CONV-\x00", "body": "\x00"}),
    ]


_clients: dict[str, httpx.Client] = {}


@pytest.fixture(autouse=True)
def _one_client_per_server() -> Iterator[None]:
    """Some 650 requests a test, each through one kept-alive connection: a
    new client per request (its TLS context and connection) made this file
    the slowest in CI."""
    yield
    while _clients:
        _clients.popitem()[1].close()


def _post(
    server: LiveServer, token: str | None, path: str, body: bytes | dict[str, Any]
) -> httpx.Response:
    headers = {"Authorization": token} if token is not None else {}
    c = _clients.get(server.base_url) or _clients.setdefault(server.base_url, server.client())
    if isinstance(body, bytes):
        headers["content-type"] = "application/json"
        return c.post(f"/widget/{path}", content=body, headers=headers)
    return c.post(f"/widget/{path}", json=body, headers=headers)


def test_a_bad_credential_is_a_401_whatever_the_body(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    start_conversation(server, token)
    _, other_aat = second_app(server)
    logged_out = identified_token(server, "bob")
    assert widget(server, logged_out, "logout").status_code == 200
    credentials = {
        "none": None,
        "empty": "",
        "a bare Bearer": "Bearer",
        "not a token": "Bearer garbage",
        "a forged JWT": token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
        "an expired token": expired_token(server, token),
        "a logged-out token": logged_out,
        "another app's token": identified_token(server, "cy", aat=other_aat),
    }
    problems = []
    for call in CALLS:
        for what, credential in credentials.items():
            for shape, body in _bad_bodies(server.app_id):
                if what == "another app's token" and not _names_the_app(body):
                    continue  # a valid token, for an app the body does not name: see below
                r = _post(server, credential, call, body)
                if r.status_code != 401 or r.json().get("type") != "unauthenticated":
                    problems.append(f"{call} with {what}, {shape}: {r.status_code} {r.text[:150]}")
            # A live PAT is a credential of the wrong kind: 403, as the
            # agents' calls answer a session token, whatever the body.
            for shape, body in _bad_bodies(server.app_id):
                r = _post(server, server.pat, call, body)
                if r.status_code != 403 or r.json().get("type") != "forbidden":
                    problems.append(f"{call} with a PAT, {shape}: {r.status_code} {r.text[:150]}")
    assert not problems, "\n".join(problems)


def _names_the_app(body: bytes | dict[str, Any]) -> bool:
    return isinstance(body, dict) and isinstance(body.get("app_id"), str)


def test_a_good_credential_then_hears_what_is_wrong_with_the_body(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    for call in CALLS:
        for shape, body in _bad_bodies(server.app_id):
            if call in ("logout", "conversations.list") and shape == "a required field missing":
                continue  # all these calls need: a valid body (and logout would end the token)
            r = _post(server, token, call, body)
            assert r.status_code == 400, (call, shape, r.text)
    assert_error(_post(server, token, "messages.list", {"app_id": server.app_id}), 400,
                 "missing_required_field", "conversation")  # fmt: skip


def test_the_app_a_bad_body_names_still_holds_the_token(server: LiveServer) -> None:
    """A token for another app, or an anonymous one where the app requires
    identification, is refused (401 / 403) before a body problem is told;
    a body that names no app leaves only the token itself to check."""
    other_app, _ = second_app(server)
    token = identified_token(server, "ann")
    r = _post(server, token, "messages.list", {"app_id": other_app})
    assert_error(r, 401, "unauthenticated")
    assert_error(_post(server, token, "messages.list", {"conversation": "CONV-1"}), 400,
                 "missing_required_field", "app_id")  # fmt: skip
    anonymous = anonymous_session(server)["session_token"]
    with server.client(server.pat) as c:
        r = c.post("/apps.update", json={"app_id": server.app_id, "require_identification": True})
        assert r.status_code == 200, r.text
    r = _post(server, anonymous, "messages.list", {"app_id": server.app_id})
    assert_error(r, 403, "forbidden")


def test_the_anonymous_session_call_takes_no_token_and_judges_its_body(server: LiveServer) -> None:
    for shape, body in _bad_bodies(server.app_id)[:6]:
        r = _post(server, None, "session", body)
        assert r.status_code == 400, (shape, r.text)
    r = _post(server, None, "session", {"app_id": server.app_id})
    assert r.status_code == 200, r.text
