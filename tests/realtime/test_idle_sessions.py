"""What an open but idle socket costs: no task of its own (one heartbeat
sweeper serves every session, writers and pumps exist only while there is
work), and that ending a session from anywhere still works."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import AsyncExitStack
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from openplug.realtime import (
    CloseCode,
    CredentialEnded,
    Delivery,
    InProcessBroker,
    Recheck,
    SessionEnd,
    SessionLimits,
    SocketSession,
    Subscription,
)
from openplug.realtime.socket_session import _Heartbeats
from openplug.realtime.starlette_transport import SocketEndpoints
from tests.realtime.fakes import FakeBatch, FakeClock, FakePolicy, Frame, until
from tests.realtime.test_socket_session import CONV, message, seqs, socket

CONTROL = "credentials:rev_user:1"


def helper_tasks(*sessions: SocketSession) -> list[asyncio.Task[Any]]:
    """Writer and pump tasks of these sessions (none while idle)."""
    return [t for s in sessions for t in (s._writer, s._pump_task) if t is not None]


def counted(kind: str, n: int) -> Callable[[list[Frame]], bool]:
    """A ``wait_for`` predicate: ``n`` frames of type ``kind`` sent."""
    return lambda frames: [f["type"] for f in frames].count(kind) == n


def sweepers() -> list[_Heartbeats]:
    loop = asyncio.get_running_loop()
    return [h for key, h in _Heartbeats._all.items() if key[0] is loop]


async def test_idle_sessions_hold_no_task_and_share_one_heartbeat() -> None:
    clock = FakeClock()
    limits = SessionLimits(heartbeat_interval=10, heartbeat_timeout=25)
    policy = FakePolicy([CONV])
    broker = InProcessBroker()
    before = len(asyncio.all_tasks())
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(
                socket(policy, limits=limits, clock=clock, broker=broker)
            )
            for _ in range(20)
        ]
        for s in sockets:
            await s.subscribe(CONV)
        await until(lambda: not helper_tasks(*(s.session for s in sockets)))
        # The test's own 20 tasks running the sessions, and one sweeper.
        assert len(asyncio.all_tasks()) - before == 20 + 1
        assert len(sweepers()) == 1

        await broker.publish(CONV, message(1))  # work makes tasks, briefly
        for s in sockets:
            await s.client.wait_for_frame(type="event", topic=CONV)
            assert seqs(s.client.events()) == [1]
        await until(lambda: not helper_tasks(*(s.session for s in sockets)))

        await clock.advance(10)  # one sweep pings every socket
        for s in sockets:
            await s.client.wait_for_frame(type="ping")
        assert [s.task.done() for s in sockets] == [False] * 20
    assert sweepers() == []  # gone with its last session
    await until(lambda: len(asyncio.all_tasks()) == before)


async def test_the_sweeper_closes_only_the_silent_sockets() -> None:
    clock = FakeClock()
    limits = SessionLimits(heartbeat_interval=10, heartbeat_timeout=25)
    async with (
        socket(limits=limits, clock=clock) as silent,
        socket(limits=limits, clock=clock) as chatty,
    ):
        for tick in (1, 2):
            await clock.advance(10)
            for s in (silent, chatty):
                await s.client.wait_for(counted("ping", tick))
            chatty.client.send({"type": "pong"})
            chatty.client.send({"type": "ping"})  # answered once the pong was read
            await chatty.client.wait_for(counted("pong", tick))
        await clock.advance(10)
        assert (await silent.ended()).code == CloseCode.HEARTBEAT_TIMEOUT
        assert not chatty.task.done()


async def test_the_sweeper_rechecks_open_credentials_in_one_batch_per_kind() -> None:
    """Ends nobody announced (a CLI revocation without Redis, a change made
    in the database) close the socket at the next re-check."""
    clock = FakeClock()
    limits = SessionLimits(
        heartbeat_interval=100, heartbeat_timeout=1000, credential_recheck_interval=5
    )
    pats, sessions = FakeBatch(), FakeBatch()
    policies = []
    for batch, ref in [(pats, 1), (pats, 2), (pats, 2), (sessions, "a"), (sessions, "b")]:
        policy = FakePolicy([CONV])
        policy.watch_credential(CONTROL, recheck=Recheck(batch, ref))
        policies.append(policy)
    broker = InProcessBroker()
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(
                socket(policy, limits=limits, clock=clock, broker=broker)
            )
            for policy in policies
        ]
        for s in sockets:
            await s.subscribe(CONV)
        assert pats.calls == sessions.calls == []  # not before the interval
        pats.verdicts = {2: CredentialEnded("the PAT was revoked")}
        sessions.verdicts = {"b": CredentialEnded("the PAT has expired", expired=True)}
        await clock.advance(5)
        ends = [await sockets[n].ended() for n in (1, 2, 4)]
        assert ends == [
            SessionEnd(CloseCode.CREDENTIAL_REVOKED, "the PAT was revoked"),
            SessionEnd(CloseCode.CREDENTIAL_REVOKED, "the PAT was revoked"),
            SessionEnd(CloseCode.CREDENTIAL_EXPIRED, "the PAT has expired"),
        ]
        assert pats.calls == [{1, 2}] and sessions.calls == [{"a", "b"}]
        assert policies[0].checks == 1  # only the check right after auth

        await broker.publish(CONV, message(1))
        for n in (0, 3):
            await sockets[n].client.wait_for(lambda _, n=n: seqs(sockets[n].client.events()) == [1])
        for n in (1, 2, 4):
            assert sockets[n].client.events() == []
        await clock.advance(5)  # the next round asks only about the open ones
        await until(lambda: len(pats.calls) == len(sessions.calls) == 2)
        assert pats.calls[1] == {1} and sessions.calls[1] == {"a"}
        assert not sockets[0].task.done() and not sockets[3].task.done()


async def test_a_session_cancelled_from_outside_is_cancelled_and_cleans_up() -> None:
    """Server shutdown cancels the route's task: the session must not take
    that cancellation for one of its own ends."""
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL, expires_at=None)
    async with socket(policy) as s:
        await s.subscribe(CONV)
        s.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await s.task
        assert s.broker.subscriber_count(CONV) == 0
        assert s.broker.subscriber_count(CONTROL) == 0
        assert helper_tasks(s.session) == []


async def test_an_outside_cancellation_racing_an_end_still_cancels() -> None:
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL)
    async with socket(policy) as s:
        await s.subscribe(CONV)
        policy.revoked = "the session was revoked"
        await s.broker.publish(CONTROL, {"type": "credentials.revoked"})
        s.task.cancel()  # before the pump has even run
        with pytest.raises(asyncio.CancelledError):
            await s.task


async def test_an_expiry_timer_that_fires_early_waits_for_the_expiry() -> None:
    """uvloop runs timers on its cached clock in whole milliseconds, so a
    timer can fire a little before the credential's ``expires_at``: the
    socket must still not be closed as expired before then."""
    policy = FakePolicy([CONV])
    expires_at = time.time() + 0.3
    policy.watch_credential(CONTROL, expires_at=expires_at)
    async with socket(policy) as s:
        await s.subscribe(CONV)
        first = s.session._expiry
        assert first is not None
        s.session._expired()  # as if the loop had run it now, too early
        assert not s.task.done()
        assert s.session._expiry is not first and not s.session._expiry.cancelled()
        first.cancel()
        end = await s.ended()
        assert time.time() >= expires_at
    assert end.code == CloseCode.CREDENTIAL_EXPIRED


async def test_a_replay_larger_than_the_outgoing_queue_waits_for_the_client() -> None:
    history = {CONV: [message(n) for n in range(1, 31)]}
    limits = SessionLimits(max_outgoing=2)
    async with socket(FakePolicy([CONV], history), limits=limits) as s:
        s.client.reading.clear()
        s.client.send({"type": "subscribe", "topic": CONV, "after_seq": 0})
        await until(lambda: s.session.queued_frames == 2)
        s.client.reading.set()
        await s.client.wait_for(lambda _: len(s.client.events()) == 30)
        await s.broker.publish(CONV, message(31))
        await s.client.wait_for(lambda _: 31 in seqs(s.client.events()))
        assert seqs(s.client.events()) == list(range(1, 32))
        assert not s.task.done()


async def test_a_revocation_ends_a_replay_stuck_on_a_client_that_does_not_read() -> None:
    history = {CONV: [message(n) for n in range(1, 31)]}
    policy = FakePolicy([CONV], history)
    policy.watch_credential(CONTROL)
    async with socket(policy, limits=SessionLimits(max_outgoing=2)) as s:
        s.client.reading.clear()
        s.client.send({"type": "subscribe", "topic": CONV, "after_seq": 0})
        await until(lambda: s.session.queued_frames == 2)
        policy.revoked = "the session was revoked"
        await s.broker.publish(CONTROL, {"type": "credentials.revoked"})
        end = await s.ended()
    assert end.code == CloseCode.CREDENTIAL_REVOKED
    assert s.client.closed == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")


class IteratingOnly:
    """A subscription that can only be iterated (as any ``Broker`` may
    return): the session falls back to one pump task for its lifetime."""

    def __init__(self, inner: Subscription) -> None:
        self._inner = inner

    @property
    def topics(self) -> frozenset[str]:
        return self._inner.topics

    @property
    def pending(self) -> int:
        return self._inner.pending

    async def add(self, topics: Iterable[str]) -> None:
        await self._inner.add(topics)

    async def remove(self, topics: Iterable[str]) -> None:
        await self._inner.remove(topics)

    def close(self) -> None:
        self._inner.close()

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self

    async def __anext__(self) -> Delivery:
        return await anext(self._inner)


class IteratingBroker(InProcessBroker):
    async def subscribe(  # type: ignore[override]
        self, topics: Iterable[str] = (), *, max_pending: int | None = None
    ) -> Subscription:
        return IteratingOnly(await super().subscribe(topics, max_pending=max_pending))


async def test_a_subscription_that_only_iterates_still_delivers_and_revokes() -> None:
    policy = FakePolicy([CONV])
    policy.watch_credential(CONTROL)
    async with socket(policy, broker=IteratingBroker()) as s:
        await s.subscribe(CONV)
        for n in (1, 2, 2, 3):
            await s.broker.publish(CONV, message(n))
        await s.client.wait_for(lambda _: 3 in seqs(s.client.events()))
        assert seqs(s.client.events()) == [1, 2, 3]
        policy.revoked = "the session was revoked"
        await s.broker.publish(CONTROL, {"type": "credentials.revoked"})
        assert (await s.ended()).code == CloseCode.CREDENTIAL_REVOKED
    assert s.broker.subscriber_count(CONV) == 0


async def test_an_internal_error_in_the_pump_closes_with_1011() -> None:
    class Broken(FakePolicy):
        async def replay(self, topic: str, after_seq: int) -> list[dict[str, Any]]:
            raise RuntimeError("the database is on fire")

    async with socket(Broken([CONV])) as s:
        await s.subscribe(CONV, after_seq=None)
        s.session._last_seq[CONV] = 1  # as if seq 1 had been sent
        await s.broker.publish(CONV, message(3))  # skips 2: a replay fills the gap
        assert (await s.ended()).code == CloseCode.INTERNAL_ERROR


# SocketEndpoints


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls.append(("app", scope["path"]))

    async def endpoint(self, websocket: WebSocket) -> None:
        self.calls.append(("endpoint", websocket.url.path))
        message = await websocket.receive()
        self.calls.append(("received", message["type"]))


async def receive() -> Message:
    return {"type": "websocket.connect"}


async def send(message: Message) -> None:
    raise AssertionError("nothing is sent")


def scope(kind: str, path: str, root_path: str = "") -> Scope:
    return {"type": kind, "path": path, "root_path": root_path, "headers": [],
            "query_string": b"", "server": ("testserver", 80), "scheme": "ws"}  # fmt: skip


async def test_socket_endpoints_take_only_their_websocket_paths() -> None:
    r = Recorder()
    app = SocketEndpoints(r.app, endpoints={"/widget/socket": r.endpoint})
    await app(scope("websocket", "/widget/socket"), receive, send)
    await app(scope("websocket", "/api/widget/socket", root_path="/api"), receive, send)
    await app(scope("http", "/widget/socket"), receive, send)
    await app(scope("websocket", "/inbox/socket"), receive, send)
    await app(scope("websocket", "/widget/socket/more"), receive, send)
    assert r.calls == [
        ("endpoint", "/widget/socket"),
        ("received", "websocket.connect"),
        ("endpoint", "/api/widget/socket"),
        ("received", "websocket.connect"),
        ("app", "/widget/socket"),
        ("app", "/inbox/socket"),
        ("app", "/widget/socket/more"),
    ]
