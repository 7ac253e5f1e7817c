"""The widget's calls for one visitor: anonymous sessions, conversations,
messages, read state, logout and merge, and that a visitor reaches nothing
that is not theirs."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from openplug.crm.friendly_names import friendly_name
from tests.conftest import ServerFactory
from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    anonymous_session,
    assert_error,
    expired_token,
    identified_token,
    second_app,
    start_conversation,
    user_id_of,
    widget,
    widget_ok,
)
from tests.live_server import LiveServer

# Every call that takes a conversation, with a valid body besides it.
CONVERSATION_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("conversations.get", {}),
    ("messages.list", {"after_seq": 0}),
    ("messages.create", {"body": "let me in"}),
    ("conversations.mark-read", {}),
]


# --- anonymous visitors -------------------------------------------------------------


def test_anonymous_session_creates_a_friendly_unverified_user_once(server: LiveServer) -> None:
    first = anonymous_session(server)
    credential = first["anonymous_credential"]
    assert credential.startswith("opl_anon_")
    name = first["user"]["display_name"]
    assert len(name.split()) == 2 and name[0].isupper()
    assert first["user"]["is_verified"] is False

    again = anonymous_session(server, credential)
    assert "anonymous_credential" not in again  # shown once
    assert again["user"] == first["user"]
    assert user_id_of(again["session_token"]) == user_id_of(first["session_token"])

    user = agent_ok(server, "/rev-users.get", {"id": first["user"]["id"]})["rev_user"]
    assert user["is_verified"] is False and user["display_name"] == name
    assert "external_ref" not in user

    # The credential is stored only as a digest.
    rows = asyncio.run(server.sql("SELECT digest FROM anonymous_credentials"))
    assert [r.digest for r in rows] != [credential] and credential not in str(rows)


def test_anonymous_credential_is_refused_elsewhere(server: LiveServer) -> None:
    credential = anonymous_session(server)["anonymous_credential"]
    other_app, _ = second_app(server)
    with server.client() as c:
        r = c.post(
            "/widget/session", json={"app_id": other_app, "anonymous_credential": credential}
        )
        assert_error(r, 401, "unauthenticated")
        r = c.post(
            "/widget/session",
            json={"app_id": server.app_id, "anonymous_credential": "opl_anon_guessed"},
        )
        assert_error(r, 401, "unauthenticated")
        r = c.post("/widget/session", json={"app_id": "app_nope"})
        assert_error(r, 400, "invalid_field", "app_id")


def test_require_identification_refuses_anonymous_visitors(server: LiveServer) -> None:
    before = anonymous_session(server)
    identified = identified_token(server, "ann")
    asyncio.run(server.sql("UPDATE apps SET require_identification = true"))
    with server.client() as c:
        r = c.post("/widget/session", json={"app_id": server.app_id})
    assert_error(r, 403, "forbidden")
    with server.client() as c:
        r = c.post(
            "/widget/session",
            json={"app_id": server.app_id, "anonymous_credential": before["anonymous_credential"]},
        )
    assert_error(r, 403, "forbidden")
    # A token minted before the switch stops working too.
    assert_error(widget(server, before["session_token"], "conversations.list"), 403, "forbidden")
    assert widget(server, identified, "conversations.list").status_code == 200
    users = agent_ok(server, "/rev-users.list", {"is_verified": False})["rev_users"]
    assert len(users) == 1  # only the one made before the switch


# --- conversations -------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["identified", "anonymous"])
def test_visitor_happy_path(server: LiveServer, kind: str) -> None:
    if kind == "identified":
        token = identified_token(server, "ann")
    else:
        token = anonymous_session(server)["session_token"]
    conv = start_conversation(server, token, "My order   never\narrived, can you help?")
    assert conv["title"] == "My order never arrived, can you help?"
    assert conv["status"] == "open" and conv["unread_count"] == 0 and conv["last_seq"] == 1
    (first,) = conv["messages"]
    assert first["mine"] is True and first["from_agent"] is False and first["seq"] == 1

    agent_reply(server, conv["id"], "Sorry! Checking now.")
    agent_reply(server, conv["id"], "It ships today.")
    (listed,) = widget_ok(server, token, "conversations.list")["conversations"]
    assert listed["id"] == conv["id"]
    assert listed["unread_count"] == 2 and listed["preview"] == "It ships today."
    assert "email" not in str(listed)

    read = widget_ok(server, token, "conversations.mark-read", conversation=conv["id"], seq=2)
    assert read == {"last_read_seq": 2}
    (listed,) = widget_ok(server, token, "conversations.list")["conversations"]
    assert listed["unread_count"] == 1
    widget_ok(server, token, "conversations.mark-read", conversation=conv["id"])
    (listed,) = widget_ok(server, token, "conversations.list")["conversations"]
    assert listed["unread_count"] == 0

    sent = widget_ok(server, token, "messages.create", conversation=conv["id"], body="Thanks")
    assert sent["message"]["seq"] == 4 and sent["message"]["mine"] is True
    got = widget_ok(server, token, "messages.list", conversation=conv["display_id"])
    assert [m["seq"] for m in got["messages"]] == [1, 2, 3, 4]
    assert [m["from_agent"] for m in got["messages"]] == [False, True, True, False]
    assert got["messages"][1]["author"]["type"] == "dev_user"
    assert "email" not in got["messages"][1]["author"]  # agents' emails stay private
    assert got["has_more"] is False

    # The agent sees the same conversation with the visitor as its member.
    seen = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert [m["id"] for m in seen["members"]] == [user_id_of(token)]
    assert seen["messages"][-1]["body"] == "Thanks"


def test_after_seq_returns_exactly_the_missed_messages(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    conv = start_conversation(server, token, "m1")
    for i in range(2, 13):
        agent_reply(server, conv["id"], f"m{i}")
    got = widget_ok(server, token, "messages.list", conversation=conv["id"], after_seq=7)
    assert [m["body"] for m in got["messages"]] == [f"m{i}" for i in range(8, 13)]
    assert got["has_more"] is False
    assert widget_ok(server, token, "messages.list", conversation=conv["id"], after_seq=12) == {
        "messages": [],
        "has_more": False,
    }
    # Paged resume: every message once, in order.
    seqs: list[int] = []
    after = 3
    while True:
        page = widget_ok(
            server, token, "messages.list", conversation=conv["id"], after_seq=after, limit=4
        )
        seqs += [m["seq"] for m in page["messages"]]
        if not page["has_more"]:
            break
        after = seqs[-1]
    assert seqs == list(range(4, 13))


def test_bodies_with_html_come_back_verbatim(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    nasty = '<script>alert("x")</script><img src=x onerror=alert(1)> &amp; &lt;b&gt;\n  '
    conv = start_conversation(server, token, nasty)
    agent_reply(server, conv["id"], nasty)
    r = widget(server, token, "messages.list", conversation=conv["id"])
    assert r.headers["content-type"].startswith("application/json")
    assert [m["body"] for m in r.json()["messages"]] == [nasty, nasty]
    entries = agent_ok(server, "/timeline-entries.list", {"object": conv["id"]})
    assert [e["body"] for e in entries["timeline_entries"]] == [nasty, nasty]


@pytest.mark.parametrize("body", ["", "   ", "\n\t ", "a\x00b", "x" * 10_001])
def test_bad_bodies_are_refused_naming_the_field(server: LiveServer, body: str) -> None:
    token = identified_token(server, "ann")
    r = widget(server, token, "conversations.create", body=body)
    assert_error(r, 400, "invalid_field", "body")
    conv = start_conversation(server, token)
    r = widget(server, token, "messages.create", conversation=conv["id"], body=body)
    assert_error(r, 400, "invalid_field", "body")
    with server.client(server.pat) as c:
        r = c.post("/timeline-entries.create", json={"object": conv["id"], "body": body})
    assert_error(r, 400, "invalid_field", "body")
    with server.client(server.pat) as c:
        r = c.post(
            "/conversations.create",
            json={"members": [user_id_of(token)], "messages": [{"body": body}]},
        )
    assert_error(r, 400, "invalid_field", "messages[0].body")
    assert len(widget_ok(server, token, "messages.list", conversation=conv["id"])["messages"]) == 1


def test_missing_body_and_app_id(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    with server.client(token) as c:
        r = c.post("/widget/conversations.create", json={"app_id": server.app_id})
        assert_error(r, 400, "missing_required_field", "body")
        r = c.post("/widget/conversations.list", json={})
        assert_error(r, 400, "missing_required_field", "app_id")


# --- authorisation -------------------------------------------------------------------


def test_a_visitor_never_reaches_another_visitors_conversation(server: LiveServer) -> None:
    ann = identified_token(server, "ann")
    conv = start_conversation(server, ann, "ann's secret")
    intruders = {
        "identified": identified_token(server, "mallory"),
        "anonymous": anonymous_session(server)["session_token"],
    }
    for name, token in intruders.items():
        for path, extra in CONVERSATION_CALLS:
            for ident in (conv["id"], conv["display_id"]):
                r = widget(server, token, path, conversation=ident, **extra)
                assert r.status_code == 404, (name, path, r.text)
                assert r.json() == {"type": "not_found", "message": "conversation not found"}
        assert widget_ok(server, token, "conversations.list")["conversations"] == []
    # A conversation that does not exist looks exactly the same.
    r = widget(server, intruders["identified"], "conversations.get", conversation="CONV-99999")
    assert r.json() == {"type": "not_found", "message": "conversation not found"}
    # Nothing was posted or marked read.
    got = widget_ok(server, ann, "messages.list", conversation=conv["id"])
    assert [m["body"] for m in got["messages"]] == ["ann's secret"]


def test_a_token_works_only_for_its_own_app(server: LiveServer) -> None:
    other_app, other_aat = second_app(server)
    ann_here = identified_token(server, "ann")
    ann_there = identified_token(server, "ann", aat=other_aat)
    assert user_id_of(ann_here) == user_id_of(ann_there)
    conv = start_conversation(server, ann_here, "from the first site")

    # Another app's token with this app's id: refused outright.
    assert_error(widget(server, ann_there, "conversations.list"), 401, "unauthenticated")
    for path, extra in CONVERSATION_CALLS:
        r = widget(server, ann_there, path, conversation=conv["id"], **extra)
        assert_error(r, 401, "unauthenticated")
    # Its own app's id: the same user sees nothing of the first app.
    for path, extra in CONVERSATION_CALLS:
        r = widget(server, ann_there, path, app_id=other_app, conversation=conv["id"], **extra)
        assert_error(r, 404, "not_found")
    listed = widget(server, ann_there, "conversations.list", app_id=other_app).json()
    assert listed["conversations"] == []
    # An agent-started conversation belongs to no app: its member sees it in both.
    made = agent_ok(server, "/conversations.create", {"members": [user_id_of(ann_here)]})
    listed = widget(server, ann_there, "conversations.list", app_id=other_app).json()
    assert [c["id"] for c in listed["conversations"]] == [made["conversation"]["id"]]


def test_widget_calls_refuse_other_credentials(server: LiveServer) -> None:
    # A PAT or AAT is a credential of the wrong kind (403), as a session
    # token is on the agents' calls; anything else is no credential (401).
    for token in (server.pat, server.aat):
        r = widget(server, token, "conversations.list")
        assert_error(r, 403, "forbidden")
    for token in ("garbage", "a.b.c"):
        r = widget(server, token, "conversations.list")
        assert_error(r, 401, "unauthenticated")
    with server.client() as c:
        r = c.post("/widget/conversations.list", json={"app_id": server.app_id})
    assert_error(r, 401, "unauthenticated")


def test_expired_revoked_and_logged_out_tokens_are_refused(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    conv = start_conversation(server, token)
    calls = [
        ("conversations.list", {}),
        ("conversations.create", {"body": "hi"}),
        ("logout", {}),
        *((path, {"conversation": conv["id"], **extra}) for path, extra in CONVERSATION_CALLS),
    ]

    def refused(t: str) -> None:
        for path, body in calls:
            assert_error(widget(server, t, path, **body), 401, "unauthenticated")

    refused(expired_token(server, token))

    # Logout ends this token at once, and only this one.
    other_tab = identified_token(server, "ann")
    assert widget_ok(server, token, "logout") == {}
    refused(token)
    with server.client(token) as c:
        assert_error(c.get("/auth-tokens.info"), 401, "unauthenticated")
    assert widget(server, other_tab, "conversations.list").status_code == 200

    anonymous = anonymous_session(server)
    widget_ok(server, anonymous["session_token"], "logout")
    refused(anonymous["session_token"])

    # Revoking the user's sessions ends every token issued until then.
    agent_ok(server, "/rev-users.revoke-sessions", {"id": user_id_of(token)})
    refused(other_tab)


# --- merge ---------------------------------------------------------------------------


def test_merge_moves_anonymous_conversations_once(server: LiveServer) -> None:
    anonymous = anonymous_session(server)
    anon_token, credential = anonymous["session_token"], anonymous["anonymous_credential"]
    conv = start_conversation(server, anon_token, "before login")
    agent_reply(server, conv["id"], "hello stranger")

    ann = identified_token(server, "ann")
    own = start_conversation(server, ann, "ann's own")
    merged = widget_ok(server, ann, "merge", anonymous_credential=credential)
    assert merged == {"merged": True, "conversations_moved": 1}

    listed = widget_ok(server, ann, "conversations.list")["conversations"]
    assert {c["id"] for c in listed} == {conv["id"], own["id"]}
    moved = next(c for c in listed if c["id"] == conv["id"])
    assert moved["unread_count"] == 1  # the read state came along
    got = widget_ok(server, ann, "messages.list", conversation=conv["id"])
    assert [(m["body"], m["mine"]) for m in got["messages"]] == [
        ("before login", True),
        ("hello stranger", False),
    ]

    # The anonymous user is kept, marked merged, and its token and
    # credential no longer work.
    user = agent_ok(server, "/rev-users.get", {"id": anonymous["user"]["id"]})["rev_user"]
    assert user["state"] == "merged"
    assert_error(widget(server, anon_token, "conversations.list"), 401, "unauthenticated")
    with server.client() as c:
        r = c.post(
            "/widget/session", json={"app_id": server.app_id, "anonymous_credential": credential}
        )
    assert_error(r, 401, "unauthenticated")

    # Once: repeating changes nothing; into someone else is refused.
    again = widget_ok(server, ann, "merge", anonymous_credential=credential)
    assert again == {"merged": True, "conversations_moved": 0}
    bob = identified_token(server, "bob")
    r = widget(server, bob, "merge", anonymous_credential=credential)
    assert_error(r, 409, "conflict")
    assert widget_ok(server, bob, "conversations.list")["conversations"] == []
    conv_now = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert [m["id"] for m in conv_now["members"]] == [user_id_of(ann)]


def test_merge_is_only_into_an_identified_user_of_the_same_app(server: LiveServer) -> None:
    first = anonymous_session(server)
    second = anonymous_session(server)
    start_conversation(server, first["session_token"])
    # An anonymous visitor cannot take over another one.
    r = widget(
        server, second["session_token"], "merge",
        anonymous_credential=first["anonymous_credential"],
    )  # fmt: skip
    assert_error(r, 403, "forbidden")
    # A credential of another app (or none at all) is not accepted.
    other_app, _ = second_app(server)
    foreign = anonymous_session(server, app_id=other_app)["anonymous_credential"]
    ann = identified_token(server, "ann")
    for credential in (foreign, "opl_anon_" + friendly_name()):
        r = widget(server, ann, "merge", anonymous_credential=credential)
        assert_error(r, 400, "invalid_field", "anonymous_credential")
    assert widget_ok(server, ann, "conversations.list")["conversations"] == []
    assert (
        len(widget_ok(server, first["session_token"], "conversations.list")["conversations"]) == 1
    )


# --- concurrency ---------------------------------------------------------------------


async def test_concurrent_posts_get_gapless_unique_seqs(any_server: LiveServer) -> None:
    server = any_server
    token = await asyncio.to_thread(identified_token, server, "ann")
    conv = await asyncio.to_thread(start_conversation, server, token, "m0")
    body = {"app_id": server.app_id, "conversation": conv["id"]}

    async with server.async_client(token) as visitor, server.async_client(server.pat) as agent:

        async def post(i: int) -> int:
            if i % 2:
                r = await agent.post(
                    "/timeline-entries.create", json={"object": conv["id"], "body": f"m{i}"}
                )
                assert r.status_code == 201, r.text
                return int(r.json()["timeline_entry"]["seq"])
            r = await visitor.post("/widget/messages.create", json={**body, "body": f"m{i}"})
            assert r.status_code == 201, r.text
            return int(r.json()["message"]["seq"])

        seqs = await asyncio.gather(*(post(i) for i in range(1, 31)))
        assert sorted(seqs) == list(range(2, 32))
        r = await visitor.post("/widget/messages.list", json={**body, "after_seq": 0})
    stored = r.json()["messages"]
    assert [m["seq"] for m in stored] == list(range(1, 32))
    assert sorted(m["body"] for m in stored) == sorted(f"m{i}" for i in range(31))
    # Each response's seq is the seq its message was stored under.
    by_body = {m["body"]: m["seq"] for m in stored}
    assert sorted(by_body[f"m{i}"] for i in range(1, 31)) == sorted(seqs)


def test_one_address_creates_only_so_many_new_visitors(make_server: ServerFactory) -> None:
    server = make_server(new_visitors_per_address_per_hour=3)
    kept = [anonymous_session(server) for _ in range(3)]
    with server.client() as c:
        r = c.post("/widget/session", json={"app_id": server.app_id})
        assert r.status_code == 429
        assert r.json()["type"] == "too_many_requests"
        assert int(r.headers["retry-after"]) == r.json()["retry_after"] > 0
    # Visitors it already has keep coming back.
    again = anonymous_session(server, kept[0]["anonymous_credential"])
    assert again["user"]["id"] == kept[0]["user"]["id"]


def test_another_apps_aat_cannot_resolve_this_apps_anonymous_visitor(server: LiveServer) -> None:
    """Finding: app 2's AAT with ``rev_info.user_id`` of app 1's anonymous
    visitor renamed them, marked them verified, read their conversations
    and blocked app 1's own merge."""
    anonymous = anonymous_session(server)
    conv = start_conversation(server, anonymous["session_token"], "before login")
    visitor_id = anonymous["user"]["id"]
    before = agent_ok(server, "/rev-users.get", {"id": visitor_id})["rev_user"]
    _, other_aat = second_app(server)
    for user_id in (visitor_id, before["display_id"]):
        with server.client(other_aat) as c:
            r = c.post(
                "/auth-tokens.create",
                json={"rev_info": {"user_id": user_id, "user_traits": {"display_name": "Mine"}}},
            )
        # Exactly as for an id that does not exist: nothing is revealed.
        assert_error(r, 400, "invalid_id", "rev_info.user_id")
        assert r.json()["message"].endswith("no rev user has this id")
    assert agent_ok(server, "/rev-users.get", {"id": visitor_id})["rev_user"] == before

    # App 1's own flow is untouched: the visitor logs in and is merged.
    ann = identified_token(server, "ann")
    merged = widget_ok(server, ann, "merge", anonymous_credential=anonymous["anonymous_credential"])
    assert merged == {"merged": True, "conversations_moved": 1}
    listed = widget_ok(server, ann, "conversations.list")["conversations"]
    assert [c["id"] for c in listed] == [conv["id"]]


def test_an_aat_resolves_its_own_apps_anonymous_visitor_but_never_a_merged_one(
    server: LiveServer,
) -> None:
    anonymous = anonymous_session(server)
    visitor_id = anonymous["user"]["id"]
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_id": visitor_id}})
    assert r.status_code == 201, r.text
    assert user_id_of(r.json()["access_token"]) == visitor_id

    merged = anonymous_session(server)
    ann = identified_token(server, "ann-merged")
    widget_ok(server, ann, "merge", anonymous_credential=merged["anonymous_credential"])
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_id": merged["user"]["id"]}})
    assert_error(r, 400, "invalid_id", "rev_info.user_id")


def test_identified_users_are_one_person_across_the_orgs_apps(server: LiveServer) -> None:
    ann = identified_token(server, "ann-everywhere")
    _, other_aat = second_app(server)
    again = identified_token(server, "ann-everywhere", aat=other_aat)
    assert user_id_of(again) == user_id_of(ann)
    with server.client(other_aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_id": user_id_of(ann)}})
    assert r.status_code == 201, r.text


def test_the_visitor_pages_through_their_conversations_newest_first(
    any_server: LiveServer,
) -> None:
    """The widget's page (built once, ``conversations.service._visitor_page``)
    and its cursor, on either database: every conversation once, newest
    activity first, and none of another visitor's."""
    token = anonymous_session(any_server)["session_token"]
    other = anonymous_session(any_server)["session_token"]
    mine = [start_conversation(any_server, token, f"number {n}")["id"] for n in range(5)]
    start_conversation(any_server, other, "not yours")
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(3):
        body: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = widget_ok(any_server, token, "conversations.list", **body)
        seen += [c["id"] for c in page["conversations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == mine[::-1]
    assert cursor is None
