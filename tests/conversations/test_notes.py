"""Internal notes (``timeline-entries.create`` with ``visibility``): every
agent sees them, no visitor ever does, by any path: the widget's lists,
previews, unread counts and messages, its socket live and on resume, the
export of their data. And what a reconnecting socket is told: edits and
deletions after the seq it saw, and the unread count a deletion lowers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    assert_error,
    identified_token,
    start_conversation,
    widget,
    widget_ok,
)
from tests.conversations.test_entry_edits import second_agent_pat
from tests.live_server import LiveServer
from tests.realtime.test_sockets import (
    agent_socket,
    conv_topic,
    key_of,
    message_seqs,
    visitor_socket,
)

Json = dict[str, Any]
NOTE = "Customer is on the legacy plan: refund by hand"


def note(server: LiveServer, conversation_id: str, body: str = NOTE, *,
         visibility: str = "internal", token: str | None = None) -> Json:  # fmt: skip
    with server.client(token or server.pat) as c:
        r = c.post("/timeline-entries.create", json={
            "object": conversation_id, "type": "timeline_comment", "body": body,
            "visibility": visibility})  # fmt: skip
    assert r.status_code == 201, r.text
    return dict(r.json()["timeline_entry"])


def entries(server: LiveServer, conversation_id: str, token: str | None = None,
            **extra: Any) -> list[Json]:  # fmt: skip
    with server.client(token or server.pat) as c:
        r = c.post("/timeline-entries.list", json={"object": conversation_id, **extra})
    assert r.status_code == 200, r.text
    return list(r.json()["timeline_entries"])


def visitor_view(server: LiveServer, token: str, conversation_id: str) -> tuple[Json, Json, str]:
    """The widget's list row, its conversations.get and messages.list, and
    all three as text (to look for the note anywhere in them)."""
    (row,) = [c for c in widget_ok(server, token, "conversations.list")["conversations"]
              if c["id"] == conversation_id]  # fmt: skip
    got = widget_ok(server, token, "conversations.get", conversation=conversation_id)
    listed = widget_ok(server, token, "messages.list", conversation=conversation_id)
    return row, listed, json.dumps([row, got, listed])


def test_agents_see_a_note_and_the_visitor_never_does(any_server: LiveServer) -> None:
    server = any_server
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "my invoice is wrong")
    reply = agent_reply(server, conv["id"], "Looking into it")
    written = note(server, conv["id"])
    assert written["visibility"] == "internal" and written["seq"] == reply["seq"] + 1
    assert reply["visibility"] == "external"

    # Agents: get, list, its filter, conversations.get.
    got = agent_ok(server, "/timeline-entries.get", {"id": written["id"]})["timeline_entry"]
    assert got == written
    assert [e["body"] for e in entries(server, conv["id"])] == [
        NOTE, "Looking into it", "my invoice is wrong"]  # fmt: skip
    assert [e["body"] for e in entries(server, conv["id"], visibility=["internal"])] == [NOTE]
    assert NOTE not in json.dumps(entries(server, conv["id"], visibility=["external"]))
    assert entries(server, conv["id"], visibility=["private"]) == []
    agent_view = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert agent_view["messages"][-1]["body"] == NOTE

    # The visitor: list row (preview, last message, unread count, last seq),
    # conversations.get and messages.list.
    row, listed, text = visitor_view(server, visitor, conv["id"])
    assert NOTE not in text and "internal" not in text
    assert [m["body"] for m in listed["messages"]] == ["my invoice is wrong", "Looking into it"]
    assert row["preview"] == "Looking into it"
    assert row["last_message"]["body"] == "Looking into it"
    assert row["unread_count"] == 1, "the note is not news for the visitor"
    assert row["last_seq"] == reply["seq"], "a note is no step the visitor sees"
    assert row["last_message_date"] == reply["created_date"]

    # Reading everything (as the widget does) leaves nothing unread and
    # shows no position beyond what they have.
    widget_ok(server, visitor, "conversations.mark-read", conversation=conv["id"])
    row, _, _ = visitor_view(server, visitor, conv["id"])
    assert (row["unread_count"], row["last_read_seq"]) == (0, reply["seq"])

    # A session token on timeline-entries.*: refused exactly as for an entry
    # that does not exist, so nothing tells the note is there.
    with server.client(visitor) as c:
        for path in ("/timeline-entries.get", "/timeline-entries.list"):
            shown = c.post(path, json={"id": written["id"], "object": conv["id"]})
            absent = c.post(path, json={"id": "COMMENT-999999", "object": "CONV-999999"})
            assert (shown.status_code, shown.json()) == (absent.status_code, absent.json())
            assert NOTE not in shown.text


def test_a_visitor_may_post_external_only(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    for value in ("internal", "private", "public"):
        r = widget(server, visitor, "messages.create", conversation=conv["id"], body="x",
                   visibility=value)  # fmt: skip
        assert_error(r, 400, "value_not_permitted", "visibility")
    sent = widget_ok(server, visitor, "messages.create", conversation=conv["id"], body="ok",
                     visibility="external")  # fmt: skip
    assert sent["message"]["body"] == "ok"
    assert [e["visibility"] for e in entries(server, conv["id"])] == ["external", "external"]
    # An agent's bad value is named too.
    with server.client(server.pat) as c:
        r = c.post("/timeline-entries.create", json={
            "object": conv["id"], "type": "timeline_comment", "body": "x",
            "visibility": "secret"})  # fmt: skip
    assert r.status_code == 400 and r.json()["field_name"] == "visibility", r.text


def test_a_private_entry_is_its_authors_alone(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    mine = note(server, conv["id"], "my own reminder", visibility="private")
    public = note(server, conv["id"], "hi there", visibility="public")
    colleague = asyncio.run(second_agent_pat(server))

    assert [e["visibility"] for e in entries(server, conv["id"])] == [
        "public", "private", "external"]  # fmt: skip
    assert "my own reminder" not in json.dumps(entries(server, conv["id"], colleague))
    with server.client(colleague) as c:
        theirs = c.post("/timeline-entries.get", json={"id": mine["id"]})
        absent = c.post("/timeline-entries.get", json={"id": "COMMENT-999999"})
    assert theirs.status_code == absent.status_code == 404
    assert theirs.json()["type"] == absent.json()["type"]
    # public reads as external: the visitor sees it.
    _, listed, text = visitor_view(server, visitor, conv["id"])
    assert [m["body"] for m in listed["messages"]] == ["hello", "hi there"]
    assert "my own reminder" not in text and public["seq"] == mine["seq"] + 1


def test_a_visitors_export_leaves_notes_out(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    agent_reply(server, conv["id"], "hi")
    note(server, conv["id"])
    user = widget_ok(server, visitor, "conversations.list")["user"]
    with server.client(server.pat) as c:
        r = c.post("/rev-users.personal-data.export", json={"id": user["id"]})
    assert r.status_code == 200, r.text
    assert "hi" in r.text and NOTE not in r.text


# --- realtime ---------------------------------------------------------------------


async def test_sockets_carry_a_note_to_agents_only_live_and_on_resume(
    any_server: LiveServer,
) -> None:
    server = any_server
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    topic, notes = conv_topic(conv), f"notes:{key_of(conv['id'])}"
    async with visitor_socket(server, visitor) as w, agent_socket(server) as a:
        await w.subscribe(topic, after_seq=1)
        # No visitor may listen to the notes: refused as for any other topic.
        await w.send(type="subscribe", topic=notes, after_seq=0)
        refused, _ = await w.until(type="error", topic=notes)
        assert refused["code"] == "forbidden"
        await a.subscribe(topic, after_seq=1)
        await a.subscribe(notes, after_seq=1)
        await a.subscribe("inbox")
        written = await asyncio.to_thread(note, server, conv["id"])
        reply = await asyncio.to_thread(agent_reply, server, conv["id"], "On it")
        live_note = await a.event("message.created", notes)
        assert live_note["seq"] == written["seq"]
        assert live_note["message"]["body"] == NOTE
        assert live_note["message"]["visibility"] == "internal"
        assert (await a.event("message.created", topic))["seq"] == reply["seq"]
        assert (await w.event("message.created", topic))["seq"] == reply["seq"]
        # The note edited and then deleted: agents are told, the visitor not.
        await asyncio.to_thread(agent_ok, server, "/timeline-entries.update",
                                {"id": written["id"], "type": "timeline_comment",
                                 "body": "edited note"})  # fmt: skip
        await asyncio.to_thread(agent_ok, server, "/timeline-entries.delete",
                                {"id": written["id"]})  # fmt: skip
        assert (await a.event("message.updated", notes))["message"]["body"] == "edited note"
        assert (await a.event("message.deleted", notes))["id"] == written["id"]
        # The agent reads everything: the visitor's receipt names no seq
        # beyond theirs (the agent's read stands past the note's steps).
        await asyncio.to_thread(agent_ok, server, "/conversations.mark-read", {"id": conv["id"]})
        receipt = await w.event("conversation.read", topic)
        assert receipt["read_seq"] == reply["seq"]
        await w.barrier()
        heard = "\n".join(w.raw)
    assert NOTE not in heard and "edited note" not in heard and written["id"] not in heard

    # Resuming: the visitor's replay skips the note's seq; the agents'
    # notes topic replays it (here: created, edited, deleted).
    again = note(server, conv["id"], "second note")
    async with visitor_socket(server, visitor) as w, agent_socket(server) as a:
        replayed = await w.subscribe(topic, after_seq=1)
        assert message_seqs(replayed) == [reply["seq"]]
        assert "note" not in json.dumps(replayed)
        agents = await a.subscribe(notes, after_seq=1)
        kinds = [(f["event"]["type"], f["event"]["seq"]) for f in agents]
        assert kinds[-2:] == [
            ("message.deleted", kinds[-2][1]), ("message.created", again["seq"])]  # fmt: skip
        assert [f["event"]["message"]["body"] for f in agents
                if f["event"]["type"] == "message.created"] == ["second note"]  # fmt: skip


async def test_a_resuming_socket_is_told_of_edits_and_deletions(any_server: LiveServer) -> None:
    server = any_server
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    topic = conv_topic(conv)
    typo = agent_reply(server, conv["id"], "typo")
    wrong = agent_reply(server, conv["id"], "wrong one")
    last_seen = wrong["seq"]
    # Away: one entry edited, another deleted.
    agent_ok(server, "/timeline-entries.update",
             {"id": typo["id"], "type": "timeline_comment", "body": "fixed"})  # fmt: skip
    agent_ok(server, "/timeline-entries.delete", {"id": wrong["id"]})
    async with visitor_socket(server, visitor) as w, agent_socket(server) as a:
        for s in (w, a):
            replayed = [f["event"] for f in await s.subscribe(topic, after_seq=last_seen)]
            assert [(e["type"], e["seq"]) for e in replayed] == [
                ("message.updated", last_seen + 1), ("message.deleted", last_seen + 2)]  # fmt: skip
            assert replayed[0]["message"]["id"] == typo["id"]
            assert replayed[0]["message"]["body"] == "fixed"
            assert replayed[0]["message"]["seq"] == typo["seq"], "it keeps its place"
            assert replayed[1]["id"] == wrong["id"]
        # Live after the replay: the next message follows the deletion, once.
        after = await asyncio.to_thread(agent_reply, server, conv["id"], "right one")
        assert after["seq"] == last_seen + 3
        for s in (w, a):
            assert (await s.event("message.created", topic))["seq"] == after["seq"]
            assert message_seqs(await s.barrier()) == []


async def test_deleting_an_unread_reply_lowers_the_visitors_unread_count(
    any_server: LiveServer,
) -> None:
    server = any_server
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    first = agent_reply(server, conv["id"], "one")
    agent_reply(server, conv["id"], "two")

    def unread() -> int:
        listed = widget_ok(server, visitor, "conversations.list")["conversations"]
        return int(next(c["unread_count"] for c in listed if c["id"] == conv["id"]))

    assert unread() == 2
    user = widget_ok(server, visitor, "conversations.list")["user"]
    async with visitor_socket(server, visitor) as w:
        await w.subscribe(f"user:{key_of(user['id'])}")
        await asyncio.to_thread(agent_ok, server, "/timeline-entries.delete", {"id": first["id"]})
        # The widget's list is told, and refreshes the count.
        told = await w.event("conversation.activity", conversation=conv["id"])
        assert told["topic"] == conv_topic(conv)
    assert unread() == 1
