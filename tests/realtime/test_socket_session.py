"""SocketSession: auth, authorisation, resume without gaps or repeats,
heartbeat and back-pressure, over an in-process broker and fake socket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from openplug.realtime import (
    Broker,
    CloseCode,
    InProcessBroker,
    SessionEnd,
    SessionLimits,
    SocketPolicy,
    SocketSession,
)
from openplug.realtime.socket_session import SessionState
from tests.realtime.fakes import WAIT, FakeClock, FakePolicy, FakeTransport, until

CONV = "conversation:1"
OTHER = "conversation:2"
TOKEN = "good-token"


def message(seq: int, body: str = "") -> dict[str, Any]:
    return {"type": "message.created", "conversation": 1, "seq": seq, "body": body or f"m{seq}"}


@dataclass
class Running:
    session: SocketSession
    client: FakeTransport
    broker: Any  # InProcessBroker or RedisBroker
    policy: FakePolicy
    task: asyncio.Task[SessionEnd]

    async def ended(self) -> SessionEnd:
        async with asyncio.timeout(WAIT):
            return await self.task

    async def subscribe(self, topic: str, after_seq: int | None = None) -> None:
        frame: dict[str, Any] = {"type": "subscribe", "topic": topic}
        if after_seq is not None:
            frame["after_seq"] = after_seq
        self.client.send(frame)
        await self.client.wait_for_frame(type="subscribed", topic=topic)


@asynccontextmanager
async def socket(
    policy: FakePolicy | None = None,
    *,
    limits: SessionLimits | None = None,
    clock: FakeClock | None = None,
    broker: Broker | None = None,
    authenticate: bool = True,
) -> AsyncIterator[Running]:
    policy = policy or FakePolicy([CONV])
    broker = broker or InProcessBroker()
    client = FakeTransport()

    async def check_token(frame: dict[str, Any]) -> SocketPolicy | None:
        return policy if frame.get("token") == TOKEN else None

    session = SocketSession(client, broker, check_token, limits=limits, clock=clock)
    task = asyncio.create_task(session.run())
    running = Running(session, client, broker, policy, task)
    try:
        if authenticate:
            client.send({"type": "auth", "token": TOKEN})
            await client.wait_for_frame(type="ready")
        yield running
    finally:
        if not task.done():
            client.disconnect()
            await running.ended()


def seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events if "seq" in e]


# Authentication


async def test_first_frame_must_authenticate() -> None:
    async with socket(authenticate=False) as s:
        s.client.send({"type": "subscribe", "topic": CONV})
        end = await s.ended()
    assert end.code == CloseCode.UNAUTHORIZED
    assert s.client.closed == (CloseCode.UNAUTHORIZED, "the first message must be auth")
    assert s.broker.subscriber_count(CONV) == 0


async def test_bad_token_is_refused() -> None:
    async with socket(authenticate=False) as s:
        s.client.send({"type": "auth", "token": "forged"})
        assert (await s.ended()).code == CloseCode.UNAUTHORIZED
    assert s.client.sent == []


async def test_malformed_frames_close_with_protocol_error() -> None:
    for bad in ["not json", "[1, 2]", '{"no": "type"}', "[" * 9 + "]" * 9]:
        async with socket(authenticate=False) as s:
            s.client.send(bad)
            assert (await s.ended()).code == CloseCode.PROTOCOL_ERROR


async def test_a_frame_over_the_limit_closes_with_1009() -> None:
    async with socket(authenticate=False) as s:
        s.client.send('{"type": "auth", "token": "' + "y" * 20000 + '"}')
        end = await s.ended()
    assert end == SessionEnd(CloseCode.MESSAGE_TOO_BIG, "frame too large: at most 16384 characters")


async def test_nesting_is_counted_outside_strings_only() -> None:
    """Brackets inside strings (escaped quotes included) are text, not depth;
    the frame itself is the first level."""
    brackets = '[[[[{{{{ \\" ]]]] " [[[['
    async with socket(limits=SessionLimits(max_frame_depth=3)) as s:
        s.client.send({"type": "ping", "note": brackets, "deep": [[1]]})
        await s.client.wait_for_frame(type="pong")
        s.client.send({"type": "ping", "deep": [[[1]]]})
        end = await s.ended()
    assert end == SessionEnd(CloseCode.PROTOCOL_ERROR, "frame nested deeper than 3 levels")


async def test_a_client_sending_faster_than_its_allowance_is_closed() -> None:
    clock = FakeClock()
    limits = SessionLimits(frame_burst=5, frame_rate=2.0, heartbeat_interval=100)
    async with socket(limits=limits, clock=clock) as s:  # the auth frame took one
        for _ in range(4):
            s.client.send({"type": "ping"})
        await s.client.wait_for(lambda frames: [f["type"] for f in frames].count("pong") == 4)
        await clock.advance(1)  # two more frames allowed
        for _ in range(2):
            s.client.send({"type": "ping"})
        await s.client.wait_for(lambda frames: [f["type"] for f in frames].count("pong") == 6)
        s.client.send({"type": "ping"})
        end = await s.ended()
    assert end == SessionEnd(CloseCode.TOO_MANY_FRAMES, "too many frames: slow down")


async def test_client_going_away_ends_quietly() -> None:
    async with socket() as s:
        await s.subscribe(CONV)
        s.client.disconnect()
        end = await s.ended()
    assert end.code == CloseCode.NORMAL
    assert s.client.closed is None  # nobody left to tell
    assert s.session.state is SessionState.CLOSED
    assert s.broker.subscriber_count(CONV) == 0


# Authorisation


async def test_refused_subscription_is_answered_and_hears_nothing() -> None:
    async with socket(FakePolicy([CONV])) as s:
        s.client.send({"type": "subscribe", "topic": OTHER, "after_seq": 0})
        error = await s.client.wait_for_frame(type="error")
        assert error == {
            "type": "error",
            "code": "forbidden",
            "topic": OTHER,
            "message": "not allowed to subscribe to this topic",
        }
        assert s.broker.subscriber_count(OTHER) == 0
        await s.subscribe(CONV)
        await s.broker.publish(OTHER, message(1, "secret"))
        await s.broker.publish(CONV, message(1, "public"))
        await s.client.wait_for(lambda _: len(s.client.events()) == 1)
        assert s.client.events() == [message(1, "public")]
        assert s.session.topics == {CONV}


async def test_invalid_requests_get_error_frames() -> None:
    async with socket() as s:
        s.client.send({"type": "subscribe", "topic": 12})
        assert (await s.client.wait_for_frame(type="error"))["code"] == "invalid_topic"
        s.client.send({"type": "subscribe", "topic": CONV, "after_seq": -1})
        await s.client.wait_for_frame(code="invalid_after_seq")
        s.client.send({"type": "unsubscribe", "topic": CONV})
        await s.client.wait_for_frame(code="not_subscribed")
        s.client.send({"type": "dance"})
        await s.client.wait_for_frame(code="unknown_type")
        assert s.session.state is SessionState.OPEN


async def test_topic_limit() -> None:
    topics = [f"conversation:{i}" for i in range(3)]
    async with socket(FakePolicy(topics), limits=SessionLimits(max_topics=2)) as s:
        await s.subscribe(topics[0])
        await s.subscribe(topics[1])
        s.client.send({"type": "subscribe", "topic": topics[2]})
        assert (await s.client.wait_for_frame(type="error"))["code"] == "too_many_topics"


async def test_unsubscribe_stops_delivery() -> None:
    async with socket(FakePolicy([CONV, OTHER])) as s:
        await s.subscribe(CONV)
        await s.subscribe(OTHER)
        s.client.send({"type": "unsubscribe", "topic": CONV})
        await s.client.wait_for_frame(type="unsubscribed", topic=CONV)
        assert s.broker.subscriber_count(CONV) == 0
        await s.broker.publish(CONV, message(1))
        await s.broker.publish(OTHER, message(1))
        await s.client.wait_for(lambda _: len(s.client.events()) == 1)
        assert [f["topic"] for f in s.client.sent if f["type"] == "event"] == [OTHER]


# Resume


async def test_resume_delivers_exactly_the_missed_events_despite_concurrent_publishes() -> None:
    """The race, step by step: subscribed; seq 5 commits and is published
    before the replay reads (so it is both replayed and live); the read sees
    1..5; seq 6 commits and is published after the read (live only); a stale
    re-publish of 4 and a typing event (no seq) arrive too."""
    history = {CONV: [message(n) for n in range(1, 6)]}
    policy = FakePolicy([CONV], {CONV: history[CONV][:4]})

    async def before_read() -> None:
        assert s.broker.subscriber_count(CONV) == 1  # subscribed before replaying
        policy.history[CONV].append(message(5))
        await s.broker.publish(CONV, message(5))
        # The live pump takes it now, while the replay is still running.
        subscription = s.session._subscription
        assert subscription is not None
        await until(lambda: subscription.pending == 0)

    async def after_read() -> None:
        policy.history[CONV].append(message(6))
        await s.broker.publish(CONV, message(6))
        await s.broker.publish(CONV, message(4))
        await s.broker.publish(CONV, {"type": "typing", "user": "REVU-1"})

    policy.before_read, policy.after_read = before_read, after_read
    async with socket(policy) as s:
        await s.subscribe(CONV, after_seq=2)
        await s.client.wait_for(lambda _: any(e.get("type") == "typing" for e in s.client.events()))
        # Something published afterwards proves nothing else is on its way.
        policy.before_read = policy.after_read = None
        await s.broker.publish(CONV, message(7))
        await s.client.wait_for(lambda _: 7 in seqs(s.client.events()))

    assert seqs(s.client.events()) == [3, 4, 5, 6, 7]
    frames = [f["type"] for f in s.client.sent]
    assert frames[frames.index("subscribed") :].count("event") == 6  # five messages + typing


async def test_a_live_event_that_skips_a_seq_fills_the_gap_from_the_store() -> None:
    """With several processes, seq 3 may be published before seq 2: the
    socket must not deliver 3 and then drop 2 as already seen."""
    policy = FakePolicy([CONV], {CONV: [message(1)]})
    async with socket(policy) as s:
        await s.subscribe(CONV, after_seq=0)
        await s.client.wait_for(lambda _: seqs(s.client.events()) == [1])
        policy.history[CONV].extend([message(2), message(3)])  # both committed
        await s.broker.publish(CONV, message(3))  # 3's process publishes first
        await s.broker.publish(CONV, message(2))  # then 2's, late
        await s.broker.publish(CONV, message(4))
        await s.client.wait_for(lambda _: 4 in seqs(s.client.events()))
    assert seqs(s.client.events()) == [1, 2, 3, 4]


async def test_reconnect_resumes_after_the_last_seq_seen() -> None:
    policy = FakePolicy([CONV], {CONV: [message(n) for n in range(1, 4)]})
    broker = InProcessBroker()
    async with socket(policy, broker=broker) as first:
        await first.subscribe(CONV, after_seq=0)
        await first.client.wait_for(lambda _: len(first.client.events()) == 3)
    last_seen = seqs(first.client.events())[-1]

    # While no socket is open, two more messages commit; nobody hears them live.
    for n in (4, 5):
        policy.history[CONV].append(message(n))
        await broker.publish(CONV, message(n))

    async with socket(policy, broker=broker) as second:
        await second.subscribe(CONV, after_seq=last_seen)
        await second.client.wait_for(lambda _: len(second.client.events()) == 2)
        policy.history[CONV].append(message(6))
        await broker.publish(CONV, message(6))
        await second.client.wait_for(lambda _: len(second.client.events()) == 3)
    assert seqs(first.client.events()) + seqs(second.client.events()) == [1, 2, 3, 4, 5, 6]


async def test_subscribe_without_after_seq_is_live_only_and_still_deduplicated() -> None:
    async with socket(FakePolicy([CONV], {CONV: [message(1)]})) as s:
        await s.subscribe(CONV)
        for n in (2, 2, 3, 1, 4):
            await s.broker.publish(CONV, message(n))
        await s.client.wait_for(lambda _: 4 in seqs(s.client.events()))
        assert seqs(s.client.events()) == [2, 3, 4]


async def test_gap_too_large_is_answered_and_not_subscribed() -> None:
    policy = FakePolicy([CONV])
    policy.too_large = True
    async with socket(policy) as s:
        s.client.send({"type": "subscribe", "topic": CONV, "after_seq": 0})
        error = await s.client.wait_for_frame(type="error")
        assert error["code"] == "resume_gap_too_large"
        assert s.session.topics == set()
        assert s.broker.subscriber_count(CONV) == 0


# Heartbeat


async def test_silent_client_is_closed_after_the_heartbeat_timeout() -> None:
    clock = FakeClock()
    limits = SessionLimits(heartbeat_interval=10, heartbeat_timeout=25)
    async with socket(limits=limits, clock=clock) as s:
        await clock.advance(10)
        await s.client.wait_for(lambda f: [x["type"] for x in f].count("ping") == 1)
        await clock.advance(10)
        await s.client.wait_for(lambda f: [x["type"] for x in f].count("ping") == 2)
        assert not s.task.done()
        await clock.advance(10)  # 30 s without a word from the client
        end = await s.ended()
    assert end == SessionEnd(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
    assert s.client.closed == (CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")


async def test_answered_pings_keep_the_socket_open() -> None:
    clock = FakeClock()
    limits = SessionLimits(heartbeat_interval=10, heartbeat_timeout=25)
    async with socket(limits=limits, clock=clock) as s:
        for tick in range(1, 11):
            await clock.advance(10)
            await s.client.wait_for(lambda f, n=tick: [x["type"] for x in f].count("ping") == n)
            s.client.send({"type": "pong"})
            # The client's own ping is answered in order, so once its pong
            # comes back the session has read the pong above too.
            s.client.send({"type": "ping"})
            await s.client.wait_for(lambda f, n=tick: [x["type"] for x in f].count("pong") == n)
        assert clock.now() == 100
        assert not s.task.done()


async def test_no_auth_frame_in_time_closes() -> None:
    clock = FakeClock()
    limits = SessionLimits(heartbeat_interval=10, heartbeat_timeout=20)
    async with socket(limits=limits, clock=clock, authenticate=False) as s:
        await clock.advance(10)
        await clock.advance(10)
        assert (await s.ended()) == SessionEnd(CloseCode.UNAUTHORIZED, "no auth message in time")
    assert s.client.sent == []  # no pings before authentication


# Back-pressure


async def test_a_client_that_stops_reading_is_closed_with_bounded_memory() -> None:
    limits = SessionLimits(max_outgoing=4, max_pending=8)
    async with socket(limits=limits) as s:
        await s.subscribe(CONV)
        s.client.reading.clear()
        for n in range(1, 1001):
            await s.broker.publish(CONV, message(n))
            assert s.session.queued_frames <= 4
            await asyncio.sleep(0)  # let the pump run between publishes
            if s.task.done():
                break
        end = await s.ended()
    assert end.code == CloseCode.TOO_SLOW
    assert "reconnect and resume" in end.reason
    assert s.broker.subscriber_count(CONV) == 0


async def test_a_burst_faster_than_the_pump_overflows_the_subscription() -> None:
    limits = SessionLimits(max_outgoing=64, max_pending=4)
    async with socket(limits=limits) as s:
        await s.subscribe(CONV)
        for n in range(1, 10):  # one loop turn: the pump cannot keep up
            await s.broker.publish(CONV, message(n))
        end = await s.ended()
    assert end.code == CloseCode.TOO_SLOW


async def test_broker_shutdown_closes_sockets_so_they_resume_elsewhere() -> None:
    async with socket() as s:
        await s.subscribe(CONV)
        await s.broker.aclose()
        assert (await s.ended()).code == CloseCode.BROKER_UNAVAILABLE


# The credential ending while the socket is open

CONTROL = "credentials:rev_user:1"


def revocation() -> dict[str, Any]:
    return {"type": "credentials.revoked", "reason": "logged out"}


async def test_a_revocation_closes_the_socket_and_nothing_published_after_it_is_sent() -> None:
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL)
    async with socket(policy) as s:
        await s.subscribe(CONV)
        await s.broker.publish(CONV, message(1))
        await s.client.wait_for(lambda _: len(s.client.events()) == 1)
        policy.revoked = "the session was revoked"
        await s.broker.publish(CONTROL, revocation())
        await s.broker.publish(CONV, message(2, "after the revocation"))
        end = await s.ended()
    assert end == SessionEnd(CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
    assert s.client.closed == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
    assert seqs(s.client.events()) == [1]
    assert s.broker.subscriber_count(CONTROL) == 0


async def test_a_revocation_of_another_credential_of_the_principal_leaves_the_socket_open() -> None:
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL)
    async with socket(policy) as s:
        await s.subscribe(CONV)
        assert policy.checks == 1  # once right after subscribing to CONTROL
        await s.broker.publish(CONTROL, revocation())  # another tab logged out
        await s.broker.publish(CONV, message(1))
        await s.client.wait_for(lambda _: len(s.client.events()) == 1)
        assert policy.checks == 2
        assert s.session.state is SessionState.OPEN
    assert [f for f in s.client.sent if f.get("topic") == CONTROL] == []


async def test_a_revocation_between_the_auth_check_and_the_subscription_still_closes() -> None:
    """The credential passes ``authenticate``; then, before the session has
    subscribed to its revocation topic, the revocation commits and is
    announced to nobody. The check after subscribing catches it."""
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL)
    broker = InProcessBroker()
    client = FakeTransport()

    async def authenticate(frame: dict[str, Any]) -> SocketPolicy | None:
        policy.revoked = "the session was revoked"
        await broker.publish(CONTROL, revocation())  # lost: nobody listens yet
        return policy

    session = SocketSession(client, broker, authenticate)
    task = asyncio.create_task(session.run())
    client.send({"type": "auth", "token": TOKEN})
    async with asyncio.timeout(WAIT):
        end = await task
    assert end == SessionEnd(CloseCode.UNAUTHORIZED, "the session was revoked")
    assert client.sent == []  # never "ready"
    assert broker.subscriber_count(CONTROL) == 0


async def test_a_revocation_is_not_held_up_by_a_replay_in_progress() -> None:
    policy = FakePolicy([CONV], {CONV: [message(1), message(2)]})
    policy.watch_credential(CONTROL)

    async def before_read() -> None:
        policy.revoked = "the session was revoked"
        await s.broker.publish(CONTROL, revocation())
        await asyncio.Event().wait()  # the replay never finishes by itself

    policy.before_read = before_read
    async with socket(policy) as s:
        s.client.send({"type": "subscribe", "topic": CONV, "after_seq": 0})
        end = await s.ended()
    assert end.code == CloseCode.CREDENTIAL_REVOKED
    assert s.client.events() == []


async def test_the_socket_closes_when_its_credential_expires() -> None:
    policy = FakePolicy([CONV])
    expires_at = time.time() + 0.2
    policy.watch_credential(CONTROL, expires_at=expires_at)
    async with socket(policy) as s:
        await s.subscribe(CONV)
        end = await s.ended()  # no clock to advance: a timer on the loop
        assert time.time() >= expires_at
    assert end.code == CloseCode.CREDENTIAL_EXPIRED
    assert policy.checks == 1  # expiry needs no database read


async def test_a_check_that_fails_after_expiry_reports_expiry() -> None:
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL, expires_at=time.time() - 1)
    async with socket(policy) as s:
        end = await s.ended()
    assert end.code == CloseCode.CREDENTIAL_EXPIRED


async def test_closing_cancels_the_expiry_timer() -> None:
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL, expires_at=time.time() + 3600)
    async with socket(policy) as s:
        timer = s.session._expiry
        assert timer is not None and not timer.cancelled()
        s.client.disconnect()
        await s.ended()
    assert timer.cancelled()


async def test_clients_cannot_subscribe_to_or_drop_the_credential_topic() -> None:
    policy = FakePolicy([CONV, CONTROL])  # even if a policy wrongly allowed it
    policy.watch_credential(CONTROL)
    async with socket(policy) as s:
        s.client.send({"type": "subscribe", "topic": CONTROL})
        error = await s.client.wait_for_frame(type="error", topic=CONTROL)
        assert error["code"] == "forbidden"
        s.client.send({"type": "unsubscribe", "topic": CONTROL})
        await s.client.wait_for_frame(code="not_subscribed")
        assert s.broker.subscriber_count(CONTROL) == 1
        policy.revoked = "the session was revoked"
        await s.broker.publish(CONTROL, revocation())
        assert (await s.ended()).code == CloseCode.CREDENTIAL_REVOKED
