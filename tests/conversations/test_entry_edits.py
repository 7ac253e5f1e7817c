"""``timeline-entries.get``, ``.update`` and ``.delete``: an agent edits or
deletes their own message, and every viewer sees it at once (the widget's
and the inbox's sockets, the visitor's HTTP lists)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from openplug.audit import SYSTEM
from openplug.identity import access_tokens
from openplug.identity.dev_users import create_dev_user
from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    assert_error,
    identified_token,
    start_conversation,
    widget_ok,
)
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer
from tests.realtime.test_sockets import agent_socket, conv_topic, visitor_socket

Json = dict[str, Any]


async def second_agent_pat(server: LiveServer, email: str = "pal@openplug.example.com") -> str:
    """A PAT of another agent (not an admin), as ``openplug agents create`` makes one."""
    runtime = server.runtime
    if runtime is None:
        raise RuntimeError("the server is not running")
    async with runtime.db.write() as conn:
        agent = await create_dev_user(conn, email, None, "agent", actor=SYSTEM)
        secret, _ = await access_tokens.issue_access_token(
            conn, runtime.secrets.token_pepper, kind="pat", dev_user_id=agent.pk,
            app_pk=None, expires_in_days=1, token_hint="colleague", actor=SYSTEM,
        )  # fmt: skip
    REGISTRY.observe_text(secret)
    return secret


def post(server: LiveServer, token: str, path: str, body: Json) -> httpx.Response:
    with server.client(token) as c:
        return c.post(path, json=body)


def visitor_bodies(server: LiveServer, token: str, conversation: str) -> list[str]:
    listed = widget_ok(server, token, "messages.list", conversation=conversation)
    return [m["body"] for m in listed["messages"]]


def test_get_update_delete_own_entry(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "my invoice is wrong")
    entry = agent_reply(server, conv["id"], "Lookng into it")
    assert entry["modified_date"] == entry["created_date"]

    for via in ("get", "post"):
        with server.client(server.pat) as c:
            r = (
                c.get("/timeline-entries.get", params={"id": entry["id"]})
                if via == "get"
                else c.post("/timeline-entries.get", json={"id": entry["id"]})
            )
        assert r.status_code == 200, r.text
        assert r.json()["timeline_entry"] == entry

    edited = agent_ok(server, "/timeline-entries.update",
                      {"id": entry["id"], "type": "timeline_comment", "body": "Looking into it"},
                      )["timeline_entry"]  # fmt: skip
    assert edited["body"] == "Looking into it"
    assert (edited["seq"], edited["id"], edited["created_date"]) == (
        entry["seq"], entry["id"], entry["created_date"],
    )  # fmt: skip
    assert edited["modified_date"] >= entry["created_date"]
    assert visitor_bodies(server, visitor, conv["id"]) == ["my invoice is wrong", "Looking into it"]
    shown = widget_ok(server, visitor, "messages.list", conversation=conv["id"])["messages"][1]
    assert shown["modified_date"] == edited["modified_date"]

    assert agent_ok(server, "/timeline-entries.delete", {"id": entry["id"]}) == {}
    assert visitor_bodies(server, visitor, conv["id"]) == ["my invoice is wrong"]
    listed = agent_ok(server, "/timeline-entries.list", {"object": conv["id"]})
    assert [e["id"] for e in listed["timeline_entries"]] != [] and all(
        e["id"] != entry["id"] for e in listed["timeline_entries"]
    )
    assert_error(post(server, server.pat, "/timeline-entries.get", {"id": entry["id"]}),
                 404, "not_found")  # fmt: skip
    # DevRev documents no 404 for .update and .delete: a bad id.
    assert_error(post(server, server.pat, "/timeline-entries.delete", {"id": entry["id"]}),
                 400, "invalid_id", "id")  # fmt: skip
    # The next message takes a new seq: neither the deleted one's nor those
    # its edit and its deletion took (steps a resuming socket is told of).
    assert agent_reply(server, conv["id"], "Fixed")["seq"] == entry["seq"] + 3


def test_rejections_bad_ids_types_and_someone_elses_message(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    theirs = agent_ok(server, "/timeline-entries.list", {"object": conv["id"]})["timeline_entries"][
        0
    ]
    mine = agent_reply(server, conv["id"], "hi")
    colleague = asyncio.run(second_agent_pat(server))
    update = {"type": "timeline_comment", "body": "changed"}

    for path in ("/timeline-entries.get", "/timeline-entries.update", "/timeline-entries.delete"):
        extra = update if path.endswith("update") else {}
        for bad in ("nope", "CONV-1", "don:core:openplug:devo/x:conversation/1"):
            r = post(server, server.pat, path, {"id": bad, **extra})
            assert_error(r, 400, "invalid_id", "id")
        assert_error(post(server, server.pat, path, {"id": 7, **extra}), 400, "invalid_field", "id")
        absent = (404, "not_found") if path.endswith(".get") else (400, "invalid_id")
        assert_error(post(server, server.pat, path, {"id": "COMMENT-999999", **extra}), *absent)
    r = post(server, server.pat, "/timeline-entries.update", {**update, "id": mine["id"],
                                                               "body": 5})  # fmt: skip
    assert_error(r, 400, "invalid_field", "body")
    note = {**update, "id": mine["id"], "type": "timeline_note"}
    r = post(server, server.pat, "/timeline-entries.update", note)
    assert_error(r, 400, "value_not_permitted", "type")

    # A colleague's message and the visitor's are not the agent's to change.
    for token, entry in ((colleague, mine), (server.pat, theirs)):
        for path in ("/timeline-entries.update", "/timeline-entries.delete"):
            extra = update if path.endswith("update") else {}
            assert_error(post(server, token, path, {"id": entry["id"], **extra}),
                         403, "forbidden")  # fmt: skip
    # ... but any agent may read it.
    got = post(server, colleague, "/timeline-entries.get", {"id": mine["id"]})
    assert got.status_code == 200 and got.json()["timeline_entry"]["body"] == "hi"
    assert visitor_bodies(server, visitor, conv["id"]) == ["hello", "hi"]


def test_edit_and_delete_are_live_for_the_visitor_and_the_inbox(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")
    entry = agent_reply(server, conv["id"], "typo")
    topic = conv_topic(conv)

    async def watch() -> tuple[list[Json], list[Json]]:
        async with visitor_socket(server, visitor) as w, agent_socket(server) as a:
            await w.subscribe(topic, after_seq=entry["seq"])
            await a.subscribe(topic, after_seq=entry["seq"])
            await a.subscribe("inbox")
            await asyncio.to_thread(
                agent_ok, server, "/timeline-entries.update",
                {"id": entry["id"], "type": "timeline_comment", "body": "fixed"},
            )  # fmt: skip
            await asyncio.to_thread(agent_ok, server, "/timeline-entries.delete",
                                    {"id": entry["id"]})  # fmt: skip
            seen_w = [await w.event("message.updated", topic),
                      await w.event("message.deleted", topic)]  # fmt: skip
            seen_a = [await a.event("message.updated", topic),
                      await a.event("message.deleted", "inbox")]  # fmt: skip
            return seen_w, seen_a

    seen_w, seen_a = asyncio.run(watch())
    for updated, deleted in (seen_w, seen_a):
        assert updated["message"]["id"] == entry["id"]
        assert updated["message"]["body"] == "fixed" and "modified_date" in updated["message"]
        # Steps of the resumable stream, after the entry's own seq.
        assert updated["seq"] == entry["seq"] + 1 and deleted["seq"] == entry["seq"] + 2
        assert updated["message"]["seq"] == entry["seq"]
        assert deleted == {"type": "message.deleted", "conversation": conv["id"],
                           "id": entry["id"], "seq": entry["seq"] + 2}  # fmt: skip
    assert "email" not in seen_w[0]["message"]["author"]


def test_update_racing_delete_leaves_one_outcome(any_server: LiveServer) -> None:
    """An edit and a delete of one entry at once: the delete always wins in
    the end, and the edit either landed before it or found the entry gone
    (400 invalid_id); never a 5xx, never an edited ghost."""
    server = any_server
    visitor = identified_token(server, "ann")
    conv = start_conversation(server, visitor, "hello")

    async def race(entry_id: str) -> tuple[int, int]:
        async with server.async_client(server.pat) as c:
            edit, gone = await asyncio.gather(
                c.post("/timeline-entries.update",
                       json={"id": entry_id, "type": "timeline_comment", "body": "edited"}),
                c.post("/timeline-entries.delete", json={"id": entry_id}),
            )  # fmt: skip
        return edit.status_code, gone.status_code

    for i in range(6):
        entry = agent_reply(server, conv["id"], f"m{i}")
        edit, gone = asyncio.run(race(entry["id"]))
        assert gone == 200 and edit in (200, 400), (edit, gone)
        assert_error(post(server, server.pat, "/timeline-entries.get", {"id": entry["id"]}),
                     404, "not_found")  # fmt: skip
    assert visitor_bodies(server, visitor, conv["id"]) == ["hello"]
