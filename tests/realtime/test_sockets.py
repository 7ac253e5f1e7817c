"""The two realtime sockets over a real server and real WebSocket clients:
``/widget/socket`` for visitors, ``/inbox/socket`` for agents."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from openplug.realtime import CloseCode
from openplug.realtime.redis_broker import RedisBroker
from tests.backends import redis_url
from tests.conftest import ServerFactory
from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    anonymous_session,
    expired_token,
    identified_token,
    second_app,
    start_conversation,
    user_id_of,
    widget_ok,
)
from tests.live_server import LiveServer

WAIT = 10.0  # a safety net against hangs, never a synchronisation
Frame = dict[str, Any]


def key_of(object_id: str) -> int:
    return int(object_id.rsplit("/", 1)[-1])


def conv_topic(conversation: dict[str, Any]) -> str:
    return f"conversation:{key_of(conversation['id'])}"


class Client:
    """One WebSocket, read frame by frame; ``raw`` keeps the text as sent."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.raw: list[str] = []

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def next(self) -> Frame:
        async with asyncio.timeout(WAIT):
            text = await self.ws.recv()
        assert isinstance(text, str)
        self.raw.append(text)
        frame: Frame = json.loads(text)
        return frame

    async def until(self, **match: Any) -> tuple[Frame, list[Frame]]:
        """Read up to the first frame matching ``match``; returns it and
        every frame read before it."""
        before: list[Frame] = []
        while True:
            frame = await self.next()
            if all(frame.get(k) == v for k, v in match.items()):
                return frame, before
            before.append(frame)

    async def subscribe(self, topic: str, after_seq: int | None = None) -> list[Frame]:
        """Subscribe; returns the replayed events (those sent before a pong
        that answers a ping sent right after the subscribe)."""
        frame: Frame = {"topic": topic}
        if after_seq is not None:
            frame["after_seq"] = after_seq
        await self.send(type="subscribe", **frame)
        await self.until(type="subscribed", topic=topic)
        return await self.barrier()

    async def barrier(self) -> list[Frame]:
        """Every frame the server queued before it read our ping: the
        session handles frames in order, so the pong comes after them."""
        await self.send(type="ping")
        _, before = await self.until(type="pong")
        return before

    async def event(self, event_type: str, topic: str | None = None, **match: Any) -> Frame:
        """The next such event (with ``match``'s values, if given). Events
        for a message committed just before a subscribe may still arrive
        live after it (the hub publishes after the commit, on its own
        time), so a test waiting for a later one names it by ``seq``."""
        while True:
            frame = await self.next()
            if frame["type"] != "event" or frame["event"]["type"] != event_type:
                continue
            event = frame["event"]
            if (topic is None or frame["topic"] == topic) and all(
                event.get(k) == v for k, v in match.items()
            ):
                return dict(event)

    async def closed_with(self) -> int | None:
        with pytest.raises(ConnectionClosed):
            while True:
                await self.next()
        return self.ws.close_code


def ws_url(server: LiveServer, path: str) -> str:
    return server.base_url.replace("http://", "ws://") + path


@asynccontextmanager
async def raw_socket(server: LiveServer, path: str) -> AsyncIterator[Client]:
    async with connect(ws_url(server, path), open_timeout=WAIT, close_timeout=WAIT) as ws:
        yield Client(ws)


@asynccontextmanager
async def visitor_socket(
    server: LiveServer, token: str, app_id: str | None = None
) -> AsyncIterator[Client]:
    async with raw_socket(server, "/widget/socket") as client:
        await client.send(type="auth", token=token, app_id=app_id or server.app_id)
        ready, _ = await client.until(type="ready")
        assert ready["heartbeat_interval"] > 0
        yield client


@asynccontextmanager
async def agent_socket(server: LiveServer, token: str | None = None) -> AsyncIterator[Client]:
    async with raw_socket(server, "/inbox/socket") as client:
        await client.send(type="auth", token=token or server.pat)
        await client.until(type="ready")
        yield client


def message_seqs(frames: list[Frame]) -> list[int]:
    return [
        f["event"]["seq"]
        for f in frames
        if f["type"] == "event" and f["event"]["type"] == "message.created"
    ]


# --- live delivery ------------------------------------------------------------------


async def test_agent_reply_arrives_on_the_visitors_socket_ready_to_render(
    server: LiveServer,
) -> None:
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "hello")
    topic = conv_topic(conversation)
    html = '<script>alert("x")</script> & <b>bold</b> \u00e9'
    async with visitor_socket(server, token) as visitor:
        await visitor.subscribe(topic)
        entry = agent_reply(server, conversation["id"], html)
        event = await visitor.event("message.created", topic, seq=2)

    assert event["seq"] == 2 and event["conversation"] == conversation["id"]
    message = event["message"]
    assert message["seq"] == 2 and message["id"] == entry["id"]
    assert message["body"] == html and message["body_type"] == "text"
    assert message["from_agent"] is True
    assert message["created_date"] == entry["created_date"]
    assert message["author"]["type"] == "dev_user"
    assert message["author"]["display_name"] == entry["created_by"]["display_name"]
    assert "email" not in message["author"]  # visitors never see agents' emails
    # Verbatim on the wire: a JSON string, not escaped into HTML entities.
    assert any(json.dumps(html, ensure_ascii=False) in raw for raw in visitor.raw)
    assert not any("&lt;" in raw or "&amp;" in raw for raw in visitor.raw)


async def test_visitor_messages_and_read_receipts_reach_the_agent(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "first")
    topic = conv_topic(conversation)
    async with agent_socket(server) as agent:
        await agent.subscribe(topic)
        await agent.subscribe("inbox")
        widget_ok(server, token, "messages.create", conversation=conversation["id"], body="two")
        event = await agent.event("message.created", topic, seq=2)
        assert event["message"]["body"] == "two"
        assert event["message"]["author"]["id"] == user_id_of(token)
        assert event["message"]["from_agent"] is False
        activity = await agent.event("conversation.activity", "inbox", last_seq=2)
        assert activity["conversation"] == conversation["id"] and activity["topic"] == topic
        assert "seq" not in activity

        agent_reply(server, conversation["id"], "three")
        await agent.event("message.created", topic, seq=3)
        widget_ok(server, token, "conversations.mark-read", conversation=conversation["id"])
        receipt = await agent.event("conversation.read", topic)
    assert receipt["read_seq"] == 3 and "seq" not in receipt
    assert receipt["reader"] == {"type": "rev_user", "id": user_id_of(token)}


async def test_new_conversations_and_status_are_announced_on_the_user_topic(
    server: LiveServer,
) -> None:
    token = identified_token(server, "status-watcher@example.com")
    user_id = user_id_of(token)
    async with visitor_socket(server, token) as visitor:
        await visitor.subscribe(f"user:{key_of(user_id)}")
        created = agent_ok(
            server,
            "/conversations.create",
            {"type": "support", "title": "We noticed", "members": [user_id],
             "messages": [{"body": "Hi from support"}]},
        )["conversation"]  # fmt: skip
        event = await visitor.event("conversation.created")
        assert event["conversation"] == created["id"] and event["topic"] == conv_topic(created)
        replayed = await visitor.subscribe(event["topic"], after_seq=0)
        assert message_seqs(replayed) == [1]
        agent_ok(server, "/conversations.update", {"id": created["id"], "status": "resolved"})
        update = await visitor.event("conversation.updated", event["topic"])
    assert update["status"] == "resolved"


# --- authorisation ------------------------------------------------------------------


async def test_a_visitor_cannot_hear_another_visitors_conversation(server: LiveServer) -> None:
    mine = anonymous_session(server)["session_token"]
    theirs = anonymous_session(server)["session_token"]
    my_conversation = start_conversation(server, mine, "mine")
    their_conversation = start_conversation(server, theirs, "theirs")
    their_topic = conv_topic(their_conversation)
    async with visitor_socket(server, mine) as visitor:
        await visitor.subscribe(conv_topic(my_conversation))
        refusals = []
        for topic in [
            their_topic,
            "conversation:999999",  # does not exist: the same answer
            f"user:{key_of(user_id_of(theirs))}",
            "inbox",
        ]:
            await visitor.send(type="subscribe", topic=topic, after_seq=0)
            error, _ = await visitor.until(type="error", topic=topic)
            refusals.append((error["code"], error["message"]))
        assert set(refusals) == {("forbidden", "not allowed to subscribe to this topic")}
        await visitor.send(type="typing", conversation=their_conversation["id"])
        error, _ = await visitor.until(type="error")
        assert error["code"] == "not_subscribed"

        # Their conversation gets news, then mine; the hub publishes in
        # commit order, so had theirs reached me it would come first.
        agent_reply(server, their_conversation["id"], "for them only")
        widget_ok(server, theirs, "messages.create", conversation=their_conversation["id"],
                  body="also theirs")  # fmt: skip
        agent_reply(server, my_conversation["id"], "for me")
        event, before = await visitor.until(type="event")
        assert event["topic"] == conv_topic(my_conversation)
        assert event["event"]["message"]["body"] == "for me"
        assert before == []
        assert not any("for them" in raw or "also theirs" in raw for raw in visitor.raw)


async def test_a_visitor_of_another_app_is_refused_the_conversation(server: LiveServer) -> None:
    other_app, other_aat = await asyncio.to_thread(second_app, server)
    token = identified_token(server, "two-apps@example.com")
    conversation = start_conversation(server, token, "in the first app")
    other_token = identified_token(server, "two-apps@example.com", aat=other_aat)
    async with visitor_socket(server, other_token, app_id=other_app) as visitor:
        await visitor.send(type="subscribe", topic=conv_topic(conversation))
        error, _ = await visitor.until(type="error")
    assert error["code"] == "forbidden"


@pytest.mark.parametrize(
    "auth",
    [
        {"type": "subscribe", "topic": "conversation:1"},  # no auth frame first
        {"type": "auth", "app_id": "APP"},  # no token
        {"type": "auth", "token": "", "app_id": "APP"},
        {"type": "auth", "token": "not.a.jwt", "app_id": "APP"},
        {"type": "auth", "token": "SESSION", "app_id": "app_unknown"},
        {"type": "auth", "token": "SESSION"},  # no app_id
        {"type": "auth", "token": "EXPIRED", "app_id": "APP"},
        {"type": "auth", "token": "PAT", "app_id": "APP"},  # an agent's token is not a visitor's
        {"type": "auth", "token": "OTHER_APP_SESSION", "app_id": "APP"},
    ],
)
async def test_the_widget_socket_refuses_bad_credentials(
    server: LiveServer, auth: dict[str, Any]
) -> None:
    session = identified_token(server, "sockets@example.com")
    values = {"APP": server.app_id, "SESSION": session, "PAT": server.pat,
              "EXPIRED": expired_token(server, session)}  # fmt: skip
    if "OTHER_APP_SESSION" in auth.values():
        _, other_aat = await asyncio.to_thread(second_app, server)
        values["OTHER_APP_SESSION"] = identified_token(server, "sockets@example.com", aat=other_aat)
    frame = {k: values.get(v, v) if isinstance(v, str) else v for k, v in auth.items()}
    async with raw_socket(server, "/widget/socket") as client:
        await client.ws.send(json.dumps(frame))
        assert await client.closed_with() == CloseCode.UNAUTHORIZED
    assert not any('"ready"' in raw for raw in client.raw)


async def test_a_logged_out_session_token_is_refused(server: LiveServer) -> None:
    token = identified_token(server, "leaving@example.com")
    widget_ok(server, token, "logout")
    async with raw_socket(server, "/widget/socket") as client:
        await client.send(type="auth", token=token, app_id=server.app_id)
        assert await client.closed_with() == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("credential", ["", "SESSION", "AAT", "pat_not_a_real_one"])
async def test_the_inbox_socket_takes_only_a_pat(server: LiveServer, credential: str) -> None:
    values = {"SESSION": identified_token(server, "not-an-agent@example.com"), "AAT": server.aat}
    async with raw_socket(server, "/inbox/socket") as client:
        await client.send(type="auth", token=values.get(credential, credential))
        assert await client.closed_with() == CloseCode.UNAUTHORIZED


# --- resume -------------------------------------------------------------------------


async def test_reconnect_with_after_seq_gets_exactly_the_missed_messages(
    any_server: LiveServer,
) -> None:
    server = any_server
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "one")
    topic = conv_topic(conversation)
    async with visitor_socket(server, token) as visitor:
        assert message_seqs(await visitor.subscribe(topic, after_seq=0)) == [1]
        agent_reply(server, conversation["id"], "two")
        assert (await visitor.event("message.created", topic))["seq"] == 2
        last_seen = 2

    # Offline: three messages from both sides.
    agent_reply(server, conversation["id"], "three")
    agent_reply(server, conversation["id"], "four")
    widget_ok(server, token, "messages.create", conversation=conversation["id"], body="five")

    async with visitor_socket(server, token) as visitor:
        replayed = await visitor.subscribe(topic, after_seq=last_seen)
        assert message_seqs(replayed) == [3, 4, 5]
        assert [f["event"]["message"]["body"] for f in replayed] == ["three", "four", "five"]
        agent_reply(server, conversation["id"], "six")
        assert (await visitor.event("message.created", topic))["seq"] == 6
        frames = await visitor.barrier()
        # Nothing twice: the live event for 6 is the only one after the replay.
        assert message_seqs(frames) == []
        everything = [json.loads(raw) for raw in visitor.raw]
        assert message_seqs(everything) == [3, 4, 5, 6]


# --- typing -------------------------------------------------------------------------


async def test_typing_reaches_the_other_side_and_is_not_stored(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "typing test")
    topic = conv_topic(conversation)
    async with visitor_socket(server, token) as visitor, agent_socket(server) as agent:
        await visitor.subscribe(topic)
        await agent.subscribe(topic)

        await visitor.send(type="typing", conversation=conversation["id"])
        typing = await agent.event("typing", topic)
        assert typing["author"]["id"] == user_id_of(token) and typing["typing"] is True
        assert "seq" not in typing

        await agent.send(type="typing", conversation=conversation["display_id"])
        # Everyone on the topic hears it, the typist too (the widget skips
        # its own author id): the visitor's own echo may come first.
        typing = await visitor.event("typing", topic)
        if typing["author"]["type"] == "rev_user":
            typing = await visitor.event("typing", topic)
        assert typing["author"]["type"] == "dev_user"
        assert typing["conversation"] == conversation["id"]

        await agent.send(type="typing", conversation="not-an-id")
        error, _ = await agent.until(type="error")
        assert error["code"] == "invalid_conversation"
        await agent.send(type="dance")
        error, _ = await agent.until(type="error")
        assert error["code"] == "unknown_type"

    timeline = agent_ok(server, "/timeline-entries.list", {"object": conversation["id"]})
    assert len(timeline["timeline_entries"]) == 1


# --- several processes --------------------------------------------------------------


async def test_two_servers_sharing_redis_deliver_each_others_events(
    make_server: ServerFactory,
) -> None:
    """An agent replying through one server reaches a visitor connected to
    another server of the same deployment (same database, same Redis)."""
    url = await redis_url()
    first = await asyncio.to_thread(make_server, redis_url=url)
    second = await asyncio.to_thread(
        make_server,
        redis_url=url,
        data_dir=first.settings.data_dir,
        database_url=first.settings.database_url,
    )
    second.first = first.first
    assert second.runtime is not None and isinstance(second.runtime.broker, RedisBroker)

    token = anonymous_session(first)["session_token"]
    conversation = start_conversation(first, token, "over redis")
    topic = conv_topic(conversation)
    async with visitor_socket(second, token) as visitor:
        assert message_seqs(await visitor.subscribe(topic, after_seq=0)) == [1]
        agent_reply(first, conversation["id"], "<i>from the other process</i>")
        event = await visitor.event("message.created", topic)
    assert event["seq"] == 2 and event["message"]["body"] == "<i>from the other process</i>"
