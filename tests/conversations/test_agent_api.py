"""The agents' conversation calls (PAT): ``conversations.*`` and
``timeline-entries.*`` in DevRev's shapes."""

from __future__ import annotations

import re

import pytest

from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    anonymous_session,
    assert_error,
    identified_token,
    start_conversation,
    user_id_of,
    widget_ok,
)
from tests.live_server import LiveServer

RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
CONV_DON = re.compile(r"^don:core:openplug:devo/[0-9a-f]+:conversation/(\d+)$")


def create(server: LiveServer, members: list[str], **extra: object) -> dict[str, object]:
    body = {"type": "support", "members": members, **extra}
    return agent_ok(server, "/conversations.create", body)["conversation"]  # type: ignore[return-value]


def test_create_get_and_shape(server: LiveServer) -> None:
    user = user_id_of(identified_token(server, "ann"))
    conv = create(server, [user], title="Billing", messages=[{"body": "Hi Ann"}])
    m = CONV_DON.match(str(conv["id"]))
    assert m, conv
    assert conv["display_id"] == f"CONV-{m[1]}"
    assert conv["type"] == "conversation"
    assert conv["title"] == "Billing"
    assert conv["stage"] == {"name": "open"} and conv["status"] == "open"
    assert RFC3339_UTC.match(str(conv["created_date"]))
    assert RFC3339_UTC.match(str(conv["modified_date"]))
    (member,) = conv["members"]  # type: ignore[misc]
    assert member["id"] == user and member["type"] == "rev_user"
    assert member["display_id"].startswith("REVU-")
    (entry,) = conv["messages"]  # type: ignore[misc]
    assert entry["type"] == "timeline_comment"
    assert entry["body"] == "Hi Ann" and entry["body_type"] == "text"
    assert entry["object"] == conv["id"] and entry["seq"] == 1
    assert entry["created_by"]["type"] == "dev_user"
    assert conv["last_seq"] == 1 and conv["unread_count"] == 0  # the agent wrote it

    for ident in (conv["id"], conv["display_id"]):
        with server.client(server.pat) as c:
            got = c.get("/conversations.get", params={"id": ident})
        assert got.status_code == 200, got.text
        assert got.json()["conversation"]["id"] == conv["id"]
    assert agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"] == conv


def test_create_validates_members_and_refuses_unknown_ones(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        r = c.post("/conversations.create", json={"members": ["REVU-999999"]})
        assert_error(r, 400, "invalid_id", "members[0]")
        r = c.post("/conversations.create", json={"members": ["ACC-1"]})
        assert_error(r, 400, "invalid_id", "members[0]")
        r = c.post("/conversations.create", json={"members": []})
        assert_error(r, 400, "invalid_field", "members")
        r = c.post("/conversations.create", json={"members": ["REVU-1"], "sla": 3})
        assert_error(r, 400, "invalid_field", "sla")


def test_get_unknown_or_malformed_ids(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        assert_error(c.post("/conversations.get", json={"id": "CONV-424242"}), 404, "not_found")
        assert_error(c.post("/conversations.get", json={"id": "nope"}), 400, "invalid_id", "id")
        r = c.post("/timeline-entries.list", json={"object": "CONV-424242"})
        assert_error(r, 404, "not_found")
        r = c.post(
            "/timeline-entries.create",
            json={"object": "CONV-424242", "type": "timeline_comment", "body": "x"},
        )
        assert_error(r, 404, "not_found")


def test_list_newest_activity_first_filters_and_paging(server: LiveServer) -> None:
    ann = user_id_of(identified_token(server, "ann"))
    bob = user_id_of(identified_token(server, "bob"))
    made = [create(server, [ann if i % 2 else bob], title=f"c{i}") for i in range(5)]
    ids = [str(c["id"]) for c in made]

    listed = agent_ok(server, "/conversations.list", {})["conversations"]
    assert [c["id"] for c in listed] == ids[::-1]

    # New activity moves a conversation to the top.
    agent_reply(server, ids[0], "bump")
    listed = agent_ok(server, "/conversations.list", {})["conversations"]
    assert [c["id"] for c in listed] == [ids[0], *ids[:0:-1]]

    # Paging: every conversation once, in the same order.
    seen: list[str] = []
    cursor = None
    while True:
        body: dict[str, object] = {"limit": 2}
        if cursor:
            body["cursor"] = cursor
        page = agent_ok(server, "/conversations.list", body)
        seen += [c["id"] for c in page["conversations"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert seen == [c["id"] for c in listed]

    by_ann = agent_ok(server, "/conversations.list", {"members": [ann]})["conversations"]
    assert {c["id"] for c in by_ann} == {ids[1], ids[3]}
    with server.client(server.pat) as c:
        r = c.get("/conversations.list", params={"members": ann, "status": "open"})
    assert {c["id"] for c in r.json()["conversations"]} == {ids[1], ids[3]}

    agent_ok(server, "/conversations.update", {"id": ids[1], "stage": {"name": "resolved"}})
    resolved = agent_ok(server, "/conversations.list", {"status": ["resolved"]})["conversations"]
    assert [c["id"] for c in resolved] == [ids[1]]
    assert resolved[0]["stage"] == {"name": "resolved"}

    with server.client(server.pat) as c:
        r = c.post("/conversations.list", json={"status": ["closed"]})
        assert_error(r, 400, "value_not_permitted", "status")
        r = c.post("/conversations.list", json={"cursor": "garbage"})
        assert_error(r, 400, "invalid_field", "cursor")


def test_update_title_and_status(server: LiveServer) -> None:
    ann = user_id_of(identified_token(server, "ann"))
    conv = create(server, [ann])
    assert conv["title"] == "Conversation"
    updated = agent_ok(
        server,
        "/conversations.update",
        {"id": conv["id"], "title": "Renamed", "status": "resolved"},
    )["conversation"]
    assert updated["title"] == "Renamed" and updated["status"] == "resolved"
    assert updated["modified_date"] >= conv["modified_date"]
    with server.client(server.pat) as c:
        r = c.post("/conversations.update", json={"id": conv["id"], "status": "closed"})
    assert_error(r, 400, "value_not_permitted", "status")


def test_timeline_entries_newest_first_with_cursor(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    conv = start_conversation(server, token, "first")
    for i in range(6):
        agent_reply(server, conv["id"], f"reply {i}")
    seqs: list[int] = []
    cursor = None
    while True:
        body: dict[str, object] = {"object": conv["id"], "limit": 3}
        if cursor:
            body["cursor"] = cursor
        page = agent_ok(server, "/timeline-entries.list", body)
        seqs += [e["seq"] for e in page["timeline_entries"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    assert seqs == [7, 6, 5, 4, 3, 2, 1]
    entries = agent_ok(server, "/timeline-entries.list", {"object": conv["display_id"]})
    oldest = entries["timeline_entries"][-1]
    assert oldest["body"] == "first"
    assert oldest["created_by"]["id"] == user_id_of(token)
    assert oldest["created_by"]["type"] == "rev_user"


def test_agent_unread_count_and_mark_read(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    conv = start_conversation(server, token, "one")
    widget_ok(server, token, "messages.create", conversation=conv["id"], body="two")
    got = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert got["unread_count"] == 2
    got = agent_ok(server, "/conversations.mark-read", {"id": conv["id"], "seq": 1})
    assert got["conversation"]["unread_count"] == 1
    # Never moves back.
    got = agent_ok(server, "/conversations.mark-read", {"id": conv["id"], "seq": 0})
    assert got["conversation"]["unread_count"] == 1
    agent_reply(server, conv["id"], "answer")  # replying reads everything up to it
    got = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert got["unread_count"] == 0
    # How far the visitor has read: their own messages, then the answer.
    assert got["members_read_seq"] == 2
    widget_ok(server, token, "conversations.mark-read", conversation=conv["id"])
    got = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert got["members_read_seq"] == 3


def test_visitor_message_reopens_a_resolved_conversation(server: LiveServer) -> None:
    token = identified_token(server, "ann")
    conv = start_conversation(server, token)
    agent_ok(server, "/conversations.update", {"id": conv["id"], "status": "resolved"})
    widget_ok(server, token, "messages.create", conversation=conv["id"], body="still broken")
    got = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert got["status"] == "open"


@pytest.mark.parametrize("path", [
    "/conversations.create", "/conversations.get", "/conversations.list",
    "/conversations.update", "/conversations.mark-read",
    "/timeline-entries.create", "/timeline-entries.list",
])  # fmt: skip
def test_agent_calls_refuse_session_tokens_and_aats(server: LiveServer, path: str) -> None:
    session = identified_token(server, "ann")
    anonymous = anonymous_session(server)["session_token"]
    for token in (server.aat, session, anonymous):
        with server.client(token) as c:
            r = c.post(path, json={})
        assert_error(r, 403, "forbidden")
    with server.client() as c:
        assert_error(c.post(path, json={}), 401, "unauthenticated")


def test_change_events_are_published_after_commit(server: LiveServer) -> None:
    """The seam the realtime hub will use: one event per committed change."""
    assert server.runtime is not None
    seen: list[object] = []
    server.runtime.change_listeners.append(seen.append)
    token = identified_token(server, "ann")
    conv = start_conversation(server, token, "hi")
    agent_reply(server, conv["id"], "hello")
    widget_ok(server, token, "conversations.mark-read", conversation=conv["id"])
    agent_ok(server, "/conversations.update", {"id": conv["id"], "status": "resolved"})
    # A refused write publishes nothing.
    with server.client(server.pat) as c:
        c.post("/timeline-entries.create", json={"object": conv["id"], "body": " "})
    kinds = [(e.kind, e.seq, e.read_seq) for e in seen]  # type: ignore[attr-defined]
    assert kinds == [
        ("conversation.created", None, None),
        ("message.created", 1, None),
        ("message.created", 2, None),
        # A read receipt is not a message: resuming sockets dedupe on seq.
        ("conversation.read", None, 2),
        ("conversation.updated", None, None),
    ]
    key = int(conv["id"].rsplit("/", 1)[-1])
    assert all(e.conversation_key == key for e in seen)  # type: ignore[attr-defined]
    assert seen[1].member_keys == (int(user_id_of(token).rsplit("/", 1)[-1]),)  # type: ignore[attr-defined]
