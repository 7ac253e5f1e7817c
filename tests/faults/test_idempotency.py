"""Fault 3: a write that was committed is answered as committed, and a
client that lost the answer retries it with its ``Idempotency-Key`` and
writes once. Two server processes on one PostgreSQL (``test_faults``'s
cluster), the key's answer stored in the database both share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

from openplug import idempotency
from openplug.conversations.events import ConversationChange
from openplug.db import Database
from tests.conversations.helpers import (
    agent_ok,
    assert_error,
    identified_token,
    start_conversation,
    widget,
)
from tests.faults.proxy import FaultProxy
from tests.faults.test_faults import Cluster, Node, bodies, cluster  # noqa: F401
from tests.live_server import TLS, LiveServer
from tests.realtime.test_sockets import conv_topic, visitor_socket

KEY = idempotency.HEADER


@contextmanager
def on_commit_of(server: LiveServer, kind: str, do: Any) -> Iterator[None]:
    """Run ``do()`` in the server, right after a write of ``kind`` commits
    (its change is published after the commit, before the answer is sent)."""
    assert server.runtime is not None
    listeners = server.runtime.change_listeners

    def listener(change: ConversationChange) -> None:
        if change.kind == kind:
            do()

    listeners.append(listener)
    try:
        yield
    finally:
        listeners.remove(listener)


def send(
    base_url: str, token: str, app_id: str, path: str, key: str | None, **body: Any
) -> httpx.Response:
    headers = {"Authorization": token, **({KEY: key} if key else {})}
    with httpx.Client(verify=TLS, base_url=base_url, headers=headers, timeout=30) as c:
        return c.post(f"/widget/{path}", json={"app_id": app_id, **body})


def post(node: Node, token: str, key: str | None, **body: Any) -> httpx.Response:
    s = node.server
    return send(s.base_url, token, s.app_id, "messages.create", key, **body)


async def test_a_message_committed_before_the_database_is_lost_is_answered_201(
    cluster: Cluster,  # noqa: F811
) -> None:
    """The answer is built in the write's own transaction: nothing reads
    the message back on another connection after the commit (which, with
    PostgreSQL gone, answered 500 for a message that exists)."""
    a, b = await cluster.start()
    token = identified_token(a.server, "readback@example.com")
    conversation = start_conversation(a.server, token, "hello")
    with on_commit_of(a.server, "message.created", a.postgres.partition):
        entry = a.server.client(a.server.pat).post(
            "/timeline-entries.create",
            json={"object": conversation["id"], "type": "timeline_comment", "body": "committed"},
        )
    a.postgres.heal()
    assert entry.status_code == 201, entry.text
    assert entry.json()["timeline_entry"]["body"] == "committed"
    with on_commit_of(a.server, "message.created", a.postgres.partition):
        r = post(a, token, None, conversation=conversation["id"], body="mine too")
    a.postgres.heal()
    assert r.status_code == 201, r.text
    assert r.json()["message"]["body"] == "mine too"
    assert bodies(b, token, conversation["id"]) == ["hello", "committed", "mine too"]


async def test_a_retry_with_the_key_after_a_lost_answer_posts_once(
    cluster: Cluster,  # noqa: F811
) -> None:
    a, b = await cluster.start()
    token = identified_token(a.server, "retry@example.com")
    conversation = start_conversation(a.server, token, "hello")
    topic = conv_topic(conversation)
    # The widget reaches A through a network that drops the connection
    # once the message is committed: the answer never arrives.
    front = FaultProxy("127.0.0.1", int(a.server.base_url.rsplit(":", 1)[1])).start()
    try:
        key = str(uuid.uuid4())
        async with visitor_socket(b.server, token) as visitor:
            await visitor.subscribe(topic, after_seq=1)
            lost = pytest.raises(httpx.TransportError)
            with on_commit_of(a.server, "message.created", front.cut), lost:
                await asyncio.to_thread(
                    send, f"http://{front.address}", token, a.server.app_id,
                    "messages.create", key, conversation=conversation["id"], body="once",
                )  # fmt: skip
            # The widget sends it again, as it is, and this time reaches B.
            again = post(b, token, key, conversation=conversation["id"], body="once")
            assert again.status_code == 201, again.text
            assert again.headers[idempotency.REPLAYED_HEADER] == "true"
            event = await visitor.event("message.created", topic, seq=2)
            assert again.json()["message"]["id"] == event["message"]["id"]
            assert again.json()["message"]["body"] == "once"
            # And once more, on A: the same answer, still nothing new.
            third = post(a, token, key, conversation=conversation["id"], body="once")
            assert third.json() == again.json()
            assert (await visitor.barrier()) == []
    finally:
        front.close()
    assert bodies(b, token, conversation["id"]) == ["hello", "once"]


async def test_the_same_key_at_once_on_two_processes_writes_once(
    cluster: Cluster,  # noqa: F811
) -> None:
    a, b = await cluster.start()
    token = identified_token(a.server, "together@example.com")
    conversation = start_conversation(a.server, token, "hello")
    for round_ in range(3):
        key = str(uuid.uuid4())
        body = f"together {round_}"
        first, second = await asyncio.gather(
            asyncio.to_thread(post, a, token, key, conversation=conversation["id"], body=body),
            asyncio.to_thread(post, b, token, key, conversation=conversation["id"], body=body),
        )
        assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
        assert first.json() == second.json()
        replayed = [r.headers.get(idempotency.REPLAYED_HEADER) for r in (first, second)]
        assert sorted(replayed, key=str) == [None, "true"]  # one wrote, one replayed
    stored = bodies(b, token, conversation["id"])
    assert stored == ["hello", "together 0", "together 1", "together 2"]


async def test_a_key_is_one_callers_for_one_request(cluster: Cluster) -> None:  # noqa: F811
    a, b = await cluster.start()
    token = identified_token(a.server, "one@example.com")
    other = identified_token(a.server, "two@example.com")
    conversation = start_conversation(a.server, token, "hello")
    theirs = start_conversation(a.server, other, "hi")
    key = "order-1"
    assert post(a, token, key, conversation=conversation["id"], body="first").status_code == 201
    # The same key with other parameters: refused, naming the header.
    r = post(b, token, key, conversation=conversation["id"], body="something else")
    assert_error(r, 400, "invalid_field", KEY)
    # Another visitor's key of the same spelling is their own.
    r = post(b, other, key, conversation=theirs["id"], body="theirs")
    assert r.status_code == 201, r.text
    assert idempotency.REPLAYED_HEADER not in r.headers
    # A conversation started with a key is started once.
    s = b.server
    started = [
        send(s.base_url, token, s.app_id, "conversations.create", "start-1", body="new one")
        for _ in range(2)
    ]
    assert [r.status_code for r in started] == [201, 201]
    assert started[0].json() == started[1].json()
    listed = widget(a.server, token, "conversations.list").json()["conversations"]
    assert len(listed) == 2
    # A key that is no key.
    r = post(a, token, "x" * 256, conversation=conversation["id"], body="long")
    assert_error(r, 400, "invalid_field", KEY)
    assert bodies(a, token, conversation["id"]) == ["hello", "first"]


async def test_keys_are_forgotten_after_a_day(cluster: Cluster) -> None:  # noqa: F811
    a, _ = await cluster.start()
    token = identified_token(a.server, "day@example.com")
    conversation = start_conversation(a.server, token, "hello")
    assert post(a, token, "k", conversation=conversation["id"], body="day one").status_code == 201
    await a.server.sql("UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'")
    # Past the day the key is a new key: the write is made again.
    r = post(a, token, "k", conversation=conversation["id"], body="day two")
    assert r.status_code == 201, r.text
    assert idempotency.REPLAYED_HEADER not in r.headers
    await a.server.sql("UPDATE idempotency_keys SET created_at = created_at - interval '25 hours'")
    db = Database(a.server.database_url)
    try:
        assert await idempotency.sweep(db) == 1
    finally:
        await db.dispose()
    assert await a.server.sql("SELECT count(*) FROM idempotency_keys") == [(0,)]
    # Erasing the visitor erases the answers that hold their messages.
    assert post(a, token, "k2", conversation=conversation["id"], body="mine").status_code == 201
    assert await a.server.sql("SELECT count(*) FROM idempotency_keys") == [(1,)]
    user_id = identified_user_id(a, token)
    agent_ok(a.server, "/rev-users.delete", {"id": user_id})
    assert await a.server.sql("SELECT count(*) FROM idempotency_keys") == [(0,)]


def identified_user_id(node: Node, token: str) -> str:
    return str(widget(node.server, token, "conversations.list").json()["user"]["id"])
