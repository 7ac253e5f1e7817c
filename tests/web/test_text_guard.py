"""Text the database cannot store is refused in every string a request
carries, with the same 400 on SQLite and PostgreSQL: NUL characters (which
PostgreSQL text cannot hold: each of these was a 500 there, and stored as
sent on SQLite) and, at the end, unpaired surrogates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from openplug.web.errors import ApiErrorWhileReading, api_error_response
from openplug.web.text_guard import TextGuard
from tests.conversations.helpers import (
    anonymous_session,
    identified_token,
    start_conversation,
    user_id_of,
)
from tests.live_server import LiveServer

NUL = "\x00"
AAT_TYPE = "urn:devrev:params:oauth:token-type:aat"
REASON = "must not contain NUL characters"


def _define_custom_fields(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        for leaf in ("rev_user", "account", "rev_org"):
            r = c.post(
                "/schemas.custom.set",
                json={"type": "tenant_fragment", "leaf_type": leaf,
                      "fields": [{"name": "x", "field_type": "text"},
                                 {"name": "tags", "field_type": "array", "base_type": "text"}]},
            )  # fmt: skip
            assert r.status_code == 201, r.text


def _identify(**rev_info: Any) -> dict[str, Any]:
    return {"rev_info": {"user_ref": "ok-user", **rev_info}}


# (credential, path, JSON body, the field the answer must name)
Case = tuple[str, str, dict[str, Any], str]


def _cases(server: LiveServer, visitor: str, conversation: str, token_id: str) -> list[Case]:
    aat, pat, app = server.aat, server.pat, server.app_id
    bad = f"a{NUL}b"
    return [
        # rev_info: refs, names, descriptions, tier, custom text fields, lists
        (aat, "/auth-tokens.create", {"rev_info": {"user_ref": bad}}, "rev_info.user_ref"),
        (aat, "/auth-tokens.create", {"rev_info": {"user_id": bad}}, "rev_info.user_id"),
        (aat, "/auth-tokens.create", _identify(account_ref=bad), "rev_info.account_ref"),
        (aat, "/auth-tokens.create", _identify(workspace_ref=bad), "rev_info.workspace_ref"),
        (aat, "/auth-tokens.create", _identify(org_ref=bad), "rev_info.org_ref"),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"display_name": bad}),
            "rev_info.user_traits.display_name",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"full_name": bad}),
            "rev_info.user_traits.full_name",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"email": f"a{NUL}@b.example"}),
            "rev_info.user_traits.email",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"description": bad}),
            "rev_info.user_traits.description",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"custom_fields": {"tnt__x": bad}}),
            "rev_info.user_traits.custom_fields.tnt__x",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"custom_fields": {"tnt__tags": ["ok", bad]}}),
            "rev_info.user_traits.custom_fields.tnt__tags[1]",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"custom_fields": {f"tnt__x{NUL}": 1}}),
            "rev_info.user_traits.custom_fields.tnt__x\\u0000",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(user_traits={"phone_numbers": ["+911122334455", bad]}),
            "rev_info.user_traits.phone_numbers[1]",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(account_ref="acc", account_traits={"tier": bad}),
            "rev_info.account_traits.tier",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(account_ref="acc", account_traits={"display_name": bad}),
            "rev_info.account_traits.display_name",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(account_ref="acc", account_traits={"domains": [f"a{NUL}.example"]}),
            "rev_info.account_traits.domains[0]",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(workspace_ref="ws", workspace_traits={"tier": bad}),
            "rev_info.workspace_traits.tier",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(workspace_ref="ws", workspace_traits={"domain": bad}),
            "rev_info.workspace_traits.domain",
        ),
        (
            aat,
            "/auth-tokens.create",
            _identify(workspace_ref="ws", workspace_traits={"custom_fields": {"tnt__x": bad}}),
            "rev_info.workspace_traits.custom_fields.tnt__x",
        ),
        # the OAuth form: rev_info as a JSON string inside the JSON body
        (
            aat,
            "/auth-tokens.create",
            {
                "grant_type": "urn:devrev:params:oauth:grant-type:token-issue",
                "subject_token_type": "urn:devrev:params:oauth:token-type:rev_info",
                "subject_token": json.dumps(
                    {"user_ref": "x", "user_traits": {"display_name": bad}}
                ),
            },
            "subject_token.user_traits.display_name",
        ),
        # AATs: token hints
        (
            pat,
            "/auth-tokens.create",
            {"requested_token_type": AAT_TYPE, "aud": [app], "token_hint": bad},
            "token_hint",
        ),
        (pat, "/auth-tokens.create", {"requested_token_type": AAT_TYPE, "aud": [bad]}, "aud[0]"),
        (pat, "/auth-tokens.update", {"token_id": token_id, "token_hint": bad}, "token_hint"),
        (pat, "/auth-tokens.list", {"client_id": bad}, "client_id"),
        # agents' CRM updates
        (pat, "/rev-users.update", {"id": visitor, "display_name": bad}, "display_name"),
        (pat, "/rev-users.update", {"id": visitor, "description": bad}, "description"),
        (
            pat,
            "/rev-users.update",
            {"id": visitor, "custom_fields": {"tnt__x": bad}},
            "custom_fields.tnt__x",
        ),
        (pat, "/rev-users.list", {"external_ref": [bad]}, "external_ref[0]"),
        (pat, "/accounts.update", {"id": "ACC-1", "tier": bad}, "tier"),
        (pat, "/rev-orgs.update", {"id": "REV-1", "description": bad}, "description"),
        (
            pat,
            "/schemas.custom.set",
            {"type": "tenant_fragment", "leaf_type": "account", "description": bad},
            "description",
        ),
        (
            pat,
            "/schemas.custom.set",
            {
                "type": "tenant_fragment",
                "leaf_type": "account",
                "fields": [{"name": "p", "field_type": "enum", "allowed_values": ["a", bad]}],
            },
            "fields[0].allowed_values[1]",
        ),
        # apps
        (pat, "/apps.create", {"name": bad}, "name"),
        (
            pat,
            "/apps.create",
            {"name": "ok", "allowed_origins": [f"https://a{NUL}.example"]},
            "allowed_origins[0]",
        ),
        (pat, "/apps.update", {"app_id": app, "name": bad}, "name"),
        # conversations
        (pat, "/conversations.create", {"members": [visitor], "title": bad}, "title"),
        (pat, "/conversations.update", {"id": conversation, "title": bad}, "title"),
        (pat, "/timeline-entries.create", {"object": conversation, "body": bad}, "body"),
        # the inbox sign-in and the demo's fake login
        ("", "/inbox/sign-in", {"email": f"admin{NUL}@example.com", "password": "x" * 12}, "email"),
        ("", "/demo/login", {"name": bad, "email": "d@example.com"}, "name"),
        ("", "/demo/login", {"name": "d", "email": f"d{NUL}@example.com"}, "email"),
        # the widget (anonymous session: no credential)
        ("", "/widget/session", {"app_id": f"app{NUL}"}, "app_id"),
        (
            "",
            "/widget/session",
            {"app_id": app, "anonymous_credential": bad},
            "anonymous_credential",
        ),
    ]


def _widget_cases(conversation: str) -> list[tuple[str, dict[str, Any], str]]:
    bad = f"a{NUL}b"
    return [
        ("conversations.create", {"body": bad}, "body"),
        ("conversations.create", {"body": "ok", "title": bad}, "title"),
        ("messages.create", {"conversation": conversation, "body": bad}, "body"),
        ("conversations.list", {"cursor": bad}, "cursor"),
        ("conversations.get", {"conversation": bad}, "conversation"),
        ("merge", {"anonymous_credential": bad}, "anonymous_credential"),
    ]


# Query strings: the value, then the name (GET calls and the chat frame page).
QUERIES = [
    ("/rev-users.list", "external_ref=a%00b", "external_ref"),
    ("/rev-users.list", "email=x&email=a%00", "email"),
    ("/rev-users.get", "id=%00", "id"),
    ("/accounts.list", "external_refs=%00", "external_refs"),
    ("/auth-tokens.list", "client_id=%00", "client_id"),
    ("/schemas.custom.get", "leaf_type=%00", "leaf_type"),
    ("/widget/frame", "app_id=app%00", "app_id"),
    ("/rev-users.list", "na%00me=x", "na\\u0000me"),
]


def _problem(r: httpx.Response, what: str, field: str) -> str | None:
    if r.status_code != 400:
        return f"{what}: {r.status_code} {r.text[:200]}"
    body = r.json()
    expected = {"type": "invalid_field", "field_name": field, "message": f"{field}: {REASON}"}
    if {k: body.get(k) for k in expected} != expected:
        return f"{what}: {body}"
    return None


def test_nul_is_refused_in_every_field_family(any_server: LiveServer) -> None:
    server = any_server
    _define_custom_fields(server)
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json=_identify(account_ref="acc", workspace_ref="ws"))
        assert r.status_code == 201, r.text
    token = identified_token(server, "visitor")
    conversation = start_conversation(server, token)
    visitor = user_id_of(token)
    with server.client(server.pat) as c:
        r = c.post("/auth-tokens.create", json={"requested_token_type": AAT_TYPE})
        assert r.status_code == 201, r.text
        token_id = r.json()["token_id"]
    anonymous = anonymous_session(server)["anonymous_credential"]

    problems: list[str | None] = []
    for credential, path, body, field in _cases(server, visitor, conversation["id"], token_id):
        # A fresh connection each time: after a 500 the server closes it.
        with server.client(credential or None) as c:
            problems.append(_problem(c.post(path, json=body), f"{path} {body}", field))
    for path, body, field in _widget_cases(conversation["id"]):
        if path == "merge":
            body = {**body, "anonymous_credential": f"{anonymous}{NUL}"}
        with server.client(token) as c:
            r = c.post(f"/widget/{path}", json={"app_id": server.app_id, **body})
        problems.append(_problem(r, f"widget/{path} {body}", field))
    for path, query, field in QUERIES:
        with server.client(server.pat) as c:
            problems.append(_problem(c.get(f"{path}?{query}"), f"{path}?{query}", field))
    # A form body is checked as well as JSON (the sign-in takes JSON, and says so).
    with server.client() as c:
        r = c.post(
            "/inbox/sign-in",
            content=b"email=admin%00%40example.com&password=xxxxxxxxxxxx",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    problems.append(_problem(r, "form sign-in", "email"))
    assert not [p for p in problems if p], "\n".join(p for p in problems if p)

    # Nothing was written by any of them.
    with server.client(server.pat) as c:
        users = c.get("/rev-users.list").json()["rev_users"]
        apps = c.get("/apps.list").json()["apps"]
        tokens = c.get("/auth-tokens.list").json()["tokens"]
        entries = c.get("/timeline-entries.list", params={"object": conversation["id"]})
    assert all(NUL not in json.dumps(u, ensure_ascii=False) for u in users)
    assert {a["name"] for a in apps} == {"Demo"}
    assert all(NUL not in t["token_hint"] for t in tokens)
    assert len(entries.json()["timeline_entries"]) == 1


def test_the_text_of_an_escaped_nul_is_not_a_nul(any_server: LiveServer) -> None:
    """``"\\\\u0000"`` in JSON is a backslash and five characters: stored as sent."""
    text = "back\\u0000slash %00"
    raw = json.dumps({"rev_info": {"user_ref": text, "user_traits": {"display_name": text}}})
    assert "\\\\u0000" in raw
    with any_server.client(any_server.aat) as c:
        r = c.post("/auth-tokens.create", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 201, r.text
    with any_server.client(any_server.pat) as c:
        users = c.get("/rev-users.list", params={"external_ref": text}).json()["rev_users"]
    assert [u["display_name"] for u in users] == [text]


def test_a_nul_in_a_body_without_content_length_is_found(server: LiveServer) -> None:
    raw = json.dumps({"rev_info": {"user_ref": "x" * 3000 + NUL}}).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for i in range(0, len(raw), 1000):
            yield raw[i : i + 1000]

    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create", content=chunks(), headers={"content-type": "application/json"}
        )
    assert _problem(r, "chunked", "rev_info.user_ref") is None, r.text


async def test_a_nul_split_across_body_messages_is_found() -> None:
    """The ASGI server may hand a body over in several messages, the escape
    cut in two; the middleware checks the whole body when it has it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body = await Request(scope, receive).body()
        except ApiErrorWhileReading as e:
            await api_error_response(e.error)(scope, receive, send)
            return
        await Response(body)(scope, receive, send)

    async def answer(parts: list[bytes]) -> tuple[int, bytes]:
        messages: list[Message] = [
            {"type": "http.request", "body": p, "more_body": i < len(parts) - 1}
            for i, p in enumerate(parts)
        ]
        sent: list[Message] = []

        async def receive() -> Message:
            return messages.pop(0)

        async def send(message: Message) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/", "query_string": b"",
                 "headers": [(b"content-type", b"application/json")]}  # fmt: skip
        await TextGuard(app)(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    status, body = await answer([b'{"a": [1, "x\\u00', b'00"]}'])
    assert status == 400
    assert json.loads(body)["field_name"] == "a[1]"
    assert await answer([b'{"a": "x\\\\u00', b'00"}']) == (200, b'{"a": "x\\\\u0000"}')


SURROGATE = "must be Unicode text: no unpaired surrogate halves (\\ud800-\\udfff)"


def test_unpaired_surrogates_are_refused_naming_the_field(any_server: LiveServer) -> None:
    """``"\\ud800"`` is valid JSON but no text: a custom field's free-form
    value took it, and then the update (and on SQLite every later read of
    the user) was a 500. Everywhere it is a 400 naming the field; a proper
    pair (an emoji) is text like any other."""
    server = any_server
    _define_custom_fields(server)
    token = identified_token(server, "visitor")
    visitor = user_id_of(token)
    raw_cases = [
        (server.pat, "/rev-users.update",
         '{"id": "ME", "custom_fields": {"tnt__x": "a\\ud800b"}}'.replace("ME", visitor),
         "custom_fields.tnt__x"),
        (server.pat, "/rev-users.update",
         '{"id": "ME", "custom_fields": {"tnt__tags": ["ok", "\\udfff"]}}'.replace("ME", visitor),
         "custom_fields.tnt__tags[1]"),
        (server.aat, "/auth-tokens.create", '{"rev_info": {"user_ref": "x\\uD800"}}',
         "rev_info.user_ref"),
        (server.aat, "/auth-tokens.create",
         '{"rev_info": {"user_ref": "x", "user_traits": {"custom_fields": {"tnt__\\ud800": 1}}}}',
         "rev_info.user_traits.custom_fields.tnt__\\ud800"),
        (server.aat, "/auth-tokens.create",
         json.dumps({"subject_token": '{"user_ref": "x\\udc00"}',
                     "subject_token_type": "urn:devrev:params:oauth:token-type:rev_info"}),
         "subject_token.user_ref"),
    ]  # fmt: skip
    for credential, path, raw, field in raw_cases:
        with server.client(credential) as c:
            r = c.post(path, content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 400, (path, raw, r.text)
        assert r.json() == {"type": "invalid_field", "field_name": field,
                            "message": f"{field}: {SURROGATE}"}, raw  # fmt: skip
    emoji = "\U0001f600"
    with server.client(server.pat) as c:
        r = c.post(
            "/rev-users.update",
            content='{"id": "ME", "custom_fields": {"tnt__x": "\\ud83d\\ude00"}}'.replace(
                "ME", visitor
            ),
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 200, r.text
        user = c.get("/rev-users.get", params={"id": visitor})
    assert user.status_code == 200, user.text
    assert user.json()["rev_user"]["custom_fields"] == {"tnt__x": emoji}
