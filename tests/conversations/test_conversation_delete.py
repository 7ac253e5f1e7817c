"""``conversations.delete``: gone for everyone, its files' bytes too, and
the visitor's widget is told at once."""

from __future__ import annotations

import asyncio
import time

from tests.artifacts.helpers import visitor_upload
from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    assert_error,
    identified_token,
    start_conversation,
    widget,
    widget_ok,
)
from tests.live_server import LiveServer
from tests.mail import outbox_probe
from tests.realtime.test_sockets import agent_socket, conv_topic, key_of, visitor_socket


def _objects_deleted(server: LiveServer, timeout: float = 20.0) -> None:
    """Until the outbox ran the deletion of the stored bytes (polled: the
    outbox announces nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = outbox_probe.jobs(server, "artifacts.delete_objects")
        if jobs and all(j.state == "done" for j in jobs):
            return
        assert time.monotonic() < deadline, [(j.state, j.last_error) for j in jobs]
        time.sleep(0.05)


def test_delete_removes_it_for_the_visitor_with_its_files(server: LiveServer) -> None:
    visitor = identified_token(server, "ann")
    kept = start_conversation(server, visitor, "keep me")
    conv = start_conversation(server, visitor, "delete me")
    file = visitor_upload(server, visitor, "note.txt", b"private\n", "text/plain")
    widget_ok(server, visitor, "messages.create", conversation=conv["id"], artifacts=[file["id"]])
    agent_reply(server, conv["id"], "done")

    async def watch() -> tuple[dict[str, object], dict[str, object], dict[str, object]]:
        async with visitor_socket(server, visitor) as w, agent_socket(server) as a:
            await w.subscribe(conv_topic(conv), after_seq=3)
            me = widget_ok(server, visitor, "conversations.list")["user"]["id"]
            await w.subscribe(f"user:{key_of(me)}")
            await a.subscribe("inbox")
            await asyncio.to_thread(agent_ok, server, "/conversations.delete", {"id": conv["id"]})
            return (
                await w.event("conversation.deleted", conv_topic(conv)),
                await w.event("conversation.deleted", f"user:{key_of(me)}"),
                await a.event("conversation.deleted", "inbox"),
            )

    for event in asyncio.run(watch()):
        assert event["conversation"] == conv["id"]

    listed = widget_ok(server, visitor, "conversations.list")["conversations"]
    assert [c["id"] for c in listed] == [kept["id"]]
    assert_error(widget(server, visitor, "messages.list", conversation=conv["id"]),
                 404, "not_found")  # fmt: skip
    with server.client(server.pat) as c:
        assert_error(c.post("/conversations.get", json={"id": conv["id"]}), 404, "not_found")
        assert_error(c.post("/conversations.delete", json={"id": conv["id"]}), 404, "not_found")
        assert_error(c.post("/artifacts.get", json={"id": file["id"]}), 404, "not_found")
        assert_error(c.post("/conversations.delete", json={"id": "nope"}), 400, "invalid_id", "id")
        assert_error(c.post("/conversations.delete", json={"id": 3}), 400, "invalid_field", "id")
    _objects_deleted(server)
    files = [p for p in (server.settings.data_dir / "artifacts").rglob("*") if p.is_file()]
    assert files == []
    # The other conversation is untouched.
    kept_messages = widget_ok(server, visitor, "messages.list", conversation=kept["id"])
    assert [m["body"] for m in kept_messages["messages"]] == ["keep me"]
