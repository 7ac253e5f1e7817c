"""One realtime socket's life, independent of the web framework.

A WebSocket route accepts the connection, wraps it in a ``SocketTransport``
and awaits ``SocketSession(...).run()``. The protocol, JSON text frames:

client -> server

- ``{"type": "auth", ...}`` first, within ``heartbeat_timeout``; the whole
  frame goes to the ``authenticate`` callback (tokens never in URLs).
- ``{"type": "subscribe", "topic": "conversation:12", "after_seq": 41}``;
  ``after_seq`` is optional: with it the client first gets every event
  after that seq (replayed from the database), then live ones.
- ``{"type": "unsubscribe", "topic": ...}``, ``{"type": "ping"}``,
  ``{"type": "pong"}``.
- any other type (e.g. ``typing``) goes to ``SocketPolicy.client_frame``.

server -> client

- ``{"type": "ready", "heartbeat_interval": 25}`` once authenticated.
- ``{"type": "subscribed", "topic": ..., "after_seq": 41}`` then events;
  ``{"type": "unsubscribed", "topic": ...}``.
- ``{"type": "event", "topic": ..., "event": {...}}``.
- ``{"type": "error", "code": "forbidden", "topic": ..., "message": ...}``:
  a refused request is always answered, never ignored.
- ``{"type": "ping"}`` every ``heartbeat_interval``; ``{"type": "pong"}``.

The socket is closed with a ``CloseCode`` (4000 + the nearest HTTP status):

- 4400 protocol error; 4408 heartbeat timeout.
- 4401 not authenticated: the auth frame's credential was refused (or it
  ended while the socket was being set up). Reconnecting with the same
  credential is refused again.
- 4410 credential revoked: it stopped being valid while the socket was
  open (logout, the user's sessions revoked, the user deleted or merged
  into another, the PAT revoked). 4440 credential expired: its expiry
  passed while the socket was open (440, "login time-out"). On either,
  get a new credential before reconnecting; the widget treats both like
  an HTTP 401 (an identified visitor's session has expired: it never falls
  back to anonymous). See ``realtime.credentials``.
- 4429 too slow (back-pressure) and 4503 broker lost: reconnect and
  resubscribe with the last seq seen; nothing is lost or repeated.

Once a session decides to close, nothing more is sent: an event published
after a revocation is never delivered before the close.

**Resume without gaps or repeats.** Subscribing first, then replaying, then
draining live events: an event committed before the replay's database read
is in the replay; one committed after it is published after it, hence
after the broker subscription was confirmed, so it arrives live. Live
events that arrive while the replay runs wait in the subscription's
bounded queue (the pump holds the session lock meanwhile) and are then
delivered only if their seq is above the last one sent on that topic.
Events without an integer ``seq`` (typing, read receipts) are not part of
the resumable stream and pass through; a topic carries one seq space, so
never put another counter (e.g. a read position) under ``seq``.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from openplug.realtime.broker import (
    DEFAULT_MAX_PENDING,
    Broker,
    Event,
    Subscription,
    SubscriptionEnded,
    SubscriptionOverflow,
    validate_topic,
)
from openplug.realtime.credentials import Credential

log = logging.getLogger("openplug.realtime")


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    INTERNAL_ERROR = 1011
    PROTOCOL_ERROR = 4400
    UNAUTHORIZED = 4401
    HEARTBEAT_TIMEOUT = 4408
    # Get a new credential before reconnecting:
    CREDENTIAL_REVOKED = 4410
    CREDENTIAL_EXPIRED = 4440
    # Reconnect and resume from the last seq seen:
    TOO_SLOW = 4429
    BROKER_UNAVAILABLE = 4503


class SocketTransport(Protocol):
    """The few things a session needs from a WebSocket."""

    async def receive_text(self) -> str | None:
        """The next text frame, or ``None`` once the client has gone."""
        ...

    async def send_text(self, text: str) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class ReplayTooLarge(Exception):
    """Raised by ``SocketPolicy.replay`` when the gap is too big to replay
    over the socket; the client pages it over HTTP, then resubscribes."""


class FrameRefused(Exception):
    """Raised by ``SocketPolicy.client_frame``; answered with an error frame."""

    def __init__(self, code: str, message: str, topic: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.topic = topic


class SocketPolicy(Protocol):
    """What the application decides for one authenticated socket."""

    # How the session notices that the credential ended (None: it never does).
    credential: Credential | None

    async def authorize(self, topic: str) -> bool:
        """May this socket's principal hear ``topic``? Asked on every
        subscribe."""
        ...

    async def replay(self, topic: str, after_seq: int) -> Sequence[Event]:
        """Every committed event on ``topic`` with seq above ``after_seq``,
        all of them (or raise ``ReplayTooLarge``): a partial page would
        leave a gap once live events continue from a later seq."""
        ...

    async def client_frame(self, frame: dict[str, Any], topics: frozenset[str]) -> None:
        """A frame of a type the session does not handle itself (e.g.
        ``typing``), from a socket subscribed to ``topics``. Raise
        ``FrameRefused`` (code ``unknown_type`` for types it does not know)."""
        ...


# Returns the policy for the principal the auth frame proves, or None.
Authenticate = Callable[[dict[str, Any]], Awaitable[SocketPolicy | None]]


class Clock(Protocol):
    def now(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class SessionLimits:
    heartbeat_interval: float = 25.0
    # Silence (no frame at all, pongs included) after which the socket is
    # dead; also how long the client has to send its auth frame.
    heartbeat_timeout: float = 60.0
    max_outgoing: int = 256  # frames queued for a slow client
    max_pending: int = DEFAULT_MAX_PENDING  # live events queued during a replay
    max_topics: int = 64
    max_frame_chars: int = 16 * 1024


@dataclass(frozen=True)
class SessionEnd:
    code: int
    reason: str


class SessionState(enum.Enum):
    AWAITING_AUTH = "awaiting_auth"
    OPEN = "open"
    CLOSED = "closed"


_TRANSITIONS = {
    SessionState.AWAITING_AUTH: {SessionState.OPEN, SessionState.CLOSED},
    SessionState.OPEN: {SessionState.CLOSED},
    SessionState.CLOSED: set(),
}


class _ProtocolError(Exception):
    pass


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


class SocketSession:
    """Drives one socket: auth, subscriptions with resume, heartbeat,
    bounded outgoing queue. ``run()`` returns how it ended."""

    def __init__(
        self,
        transport: SocketTransport,
        broker: Broker,
        authenticate: Authenticate,
        *,
        limits: SessionLimits | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._transport = transport
        self._broker = broker
        self._authenticate = authenticate
        self._limits = limits or SessionLimits()
        self._clock = clock or MonotonicClock()
        self._state = SessionState.AWAITING_AUTH
        self._policy: SocketPolicy | None = None
        self._subscription: Subscription | None = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue(self._limits.max_outgoing)
        self._topics: set[str] = set()
        self._last_seq: dict[str, int] = {}
        # Held while a subscribe replays, so the pump cannot interleave
        # live events with the replay.
        self._lock = asyncio.Lock()
        self._last_seen = 0.0
        self._ended = asyncio.Event()
        self._end = SessionEnd(CloseCode.NORMAL, "")
        self._peer_gone = False
        self._tasks: list[asyncio.Task[None]] = []
        self._credential: Credential | None = None
        self._control: frozenset[str] = frozenset()  # the credential's topics
        self._expiry: asyncio.TimerHandle | None = None

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    @property
    def queued_frames(self) -> int:
        """Frames waiting for the client (never above ``max_outgoing``)."""
        return self._outgoing.qsize()

    async def run(self) -> SessionEnd:
        self._last_seen = self._clock.now()
        self._spawn(self._receive_loop(), "receive")
        self._spawn(self._send_loop(), "send")
        self._spawn(self._heartbeat_loop(), "heartbeat")
        try:
            await self._ended.wait()
        finally:
            if self._expiry is not None:
                self._expiry.cancel()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._subscription is not None:
                self._subscription.close()
            self._set_state(SessionState.CLOSED)
        if not self._peer_gone:
            try:
                await self._transport.close(self._end.code, self._end.reason)
            except Exception as e:
                log.debug("closing a realtime socket: %r", e)
        return self._end

    # Lifecycle

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("realtime socket %s loop failed", name)
                self._finish(CloseCode.INTERNAL_ERROR, "internal error")

        self._tasks.append(asyncio.get_running_loop().create_task(guarded()))

    def _finish(self, code: int, reason: str, *, peer_gone: bool = False) -> None:
        if self._ended.is_set():
            return
        self._end = SessionEnd(code, reason)
        self._peer_gone = peer_gone
        self._ended.set()

    def _set_state(self, new: SessionState) -> None:
        if new is self._state:
            return
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"socket session cannot go from {self._state} to {new}")
        self._state = new

    # Outgoing

    def _offer(self, frame: dict[str, Any]) -> bool:
        """Queue without waiting; a full queue means the client is not
        reading, and it is closed rather than buffered without bound."""
        if self._ended.is_set():
            return False
        try:
            self._outgoing.put_nowait(_encode(frame))
        except asyncio.QueueFull:
            self._finish(CloseCode.TOO_SLOW, "client too slow: reconnect and resume")
            return False
        return True

    async def _send_loop(self) -> None:
        while True:
            text = await self._outgoing.get()
            if self._ended.is_set():
                return  # closing: e.g. the credential ended after this was queued
            try:
                await self._transport.send_text(text)
            except Exception as e:
                log.debug("realtime socket send failed: %r", e)
                self._finish(CloseCode.NORMAL, "client went away", peer_gone=True)
                return

    # Incoming

    async def _receive_loop(self) -> None:
        while True:
            text = await self._transport.receive_text()
            if text is None:
                self._finish(CloseCode.NORMAL, "client went away", peer_gone=True)
                return
            self._last_seen = self._clock.now()
            try:
                frame = self._parse(text)
                if self._state is SessionState.AWAITING_AUTH:
                    if not await self._authenticate_with(frame):
                        return
                else:
                    await self._dispatch(frame)
            except _ProtocolError as e:
                self._finish(CloseCode.PROTOCOL_ERROR, str(e))
                return
            if self._ended.is_set():
                return

    def _parse(self, text: str) -> dict[str, Any]:
        if len(text) > self._limits.max_frame_chars:
            raise _ProtocolError("frame too large")
        try:
            frame = json.loads(text)
        except ValueError:
            raise _ProtocolError("frames are JSON objects") from None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            raise _ProtocolError('frames are JSON objects with a "type"')
        return frame

    async def _authenticate_with(self, frame: dict[str, Any]) -> bool:
        if frame["type"] != "auth":
            self._finish(CloseCode.UNAUTHORIZED, "the first message must be auth")
            return False
        policy = await self._authenticate(frame)
        if policy is None:
            self._finish(CloseCode.UNAUTHORIZED, "not authenticated")
            return False
        credential = policy.credential
        try:
            self._subscription = await self._broker.subscribe(
                credential.topics if credential is not None else (),
                max_pending=self._limits.max_pending,
            )
        except SubscriptionEnded as e:
            self._finish(CloseCode.BROKER_UNAVAILABLE, f"{e}: reconnect")
            return False
        if credential is not None:
            # Subscribed (confirmed) to the revocation signals: a revocation
            # committed since ``authenticate`` read is either seen by this
            # check or announced to the subscription.
            why = await credential.check()
            if why is not None:
                self._finish(CloseCode.UNAUTHORIZED, why)
                return False
            self._credential, self._control = credential, frozenset(credential.topics)
            if credential.expires_at is not None:
                loop = asyncio.get_running_loop()
                self._expiry = loop.call_at(
                    loop.time() + max(0.0, credential.expires_at - time.time()),
                    self._finish,
                    CloseCode.CREDENTIAL_EXPIRED,
                    "the credential expired: get a new one",
                )
        self._policy = policy
        self._spawn(self._pump(self._subscription), "pump")
        self._set_state(SessionState.OPEN)
        return self._offer({"type": "ready", "heartbeat_interval": self._limits.heartbeat_interval})

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            self._offer({"type": "pong"})
        elif kind == "pong":
            pass  # _last_seen already moved
        elif kind == "subscribe":
            await self._subscribe(frame)
        elif kind == "unsubscribe":
            await self._unsubscribe(frame)
        else:
            assert self._policy is not None
            try:
                await self._policy.client_frame(frame, frozenset(self._topics))
            except FrameRefused as e:
                self._refuse(e.code, e.topic, str(e))

    def _refuse(self, code: str, topic: object, message: str) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if isinstance(topic, str):
            frame["topic"] = topic
        self._offer(frame)

    async def _subscribe(self, frame: dict[str, Any]) -> None:
        assert self._policy is not None and self._subscription is not None
        topic, after_seq = frame.get("topic"), frame.get("after_seq")
        try:
            if not isinstance(topic, str):
                raise ValueError("topic is a string")
            validate_topic(topic)
        except ValueError as e:
            self._refuse("invalid_topic", topic, str(e))
            return
        if after_seq is not None and (type(after_seq) is not int or after_seq < 0):
            self._refuse("invalid_after_seq", topic, "after_seq is a non-negative integer")
            return
        if topic in self._control:
            self._refuse("forbidden", topic, "not allowed to subscribe to this topic")
            return
        if topic not in self._topics and len(self._topics) >= self._limits.max_topics:
            self._refuse("too_many_topics", topic, f"at most {self._limits.max_topics} topics")
            return
        if not await self._policy.authorize(topic):
            self._refuse("forbidden", topic, "not allowed to subscribe to this topic")
            return
        async with self._lock:
            try:
                # 1. subscribe (confirmed), 2. replay, 3. the pump drains live
                # events once the lock is released, skipping seqs already sent.
                await self._subscription.add([topic])
            except SubscriptionEnded as e:
                self._finish(CloseCode.BROKER_UNAVAILABLE, str(e))
                return
            self._topics.add(topic)
            missed: Sequence[Event] = ()
            if after_seq is not None:
                self._last_seq[topic] = after_seq
                try:
                    missed = await self._policy.replay(topic, after_seq)
                except ReplayTooLarge as e:
                    await self._drop_topic(topic)
                    self._refuse("resume_gap_too_large", topic, str(e) or "fetch history first")
                    return
            if not self._offer({"type": "subscribed", "topic": topic, "after_seq": after_seq}):
                return
            for event in sorted(missed, key=_seq_or_zero):
                if self._accept(topic, event):
                    # A replay may exceed the queue: wait for the writer
                    # instead of treating our own backlog as a slow client.
                    await self._outgoing.put(_encode(_event_frame(topic, event)))

    async def _unsubscribe(self, frame: dict[str, Any]) -> None:
        topic = frame.get("topic")
        if not isinstance(topic, str) or topic not in self._topics:
            self._refuse("not_subscribed", topic, "not subscribed to this topic")
            return
        async with self._lock:
            await self._drop_topic(topic)
        self._offer({"type": "unsubscribed", "topic": topic})

    async def _drop_topic(self, topic: str) -> None:
        assert self._subscription is not None
        self._topics.discard(topic)
        self._last_seq.pop(topic, None)
        await self._subscription.remove([topic])

    # Live events

    async def _pump(self, subscription: Subscription) -> None:
        try:
            async for delivery in subscription:
                # Not under the lock: a replay in progress must not delay it.
                if delivery.topic in self._control:
                    if not await self._credential_still_valid():
                        return
                    continue
                async with self._lock:
                    topic, event = delivery.topic, delivery.event
                    if topic not in self._topics:
                        continue
                    if self._skips_ahead(topic, event) and not await self._fill_gap(topic):
                        continue
                    if not self._accept(topic, event):
                        continue
                    if not self._offer(_event_frame(topic, event)):
                        return
        except SubscriptionOverflow as e:
            self._finish(CloseCode.TOO_SLOW, f"{e}: reconnect and resume")
        except SubscriptionEnded as e:
            self._finish(CloseCode.BROKER_UNAVAILABLE, f"{e}: reconnect and resume")

    async def _credential_still_valid(self) -> bool:
        """Someone ended a credential of this socket's principal: is it ours?"""
        assert self._credential is not None
        why = await self._credential.check()
        if why is None:
            return True
        expires_at = self._credential.expires_at
        if expires_at is not None and time.time() >= expires_at:
            self._finish(CloseCode.CREDENTIAL_EXPIRED, why)
        else:
            self._finish(CloseCode.CREDENTIAL_REVOKED, why)
        return False

    def _skips_ahead(self, topic: str, event: Event) -> bool:
        seq, last = event.get("seq"), self._last_seq.get(topic)
        return type(seq) is int and last is not None and seq > last + 1

    async def _fill_gap(self, topic: str) -> bool:
        """A live event skipped a seq: several processes published out of
        commit order, or an event was lost. Replay from the store what came
        after the last seq sent, so nothing is missing. False when the topic
        was dropped because the gap is too large to replay."""
        assert self._policy is not None
        try:
            missed = await self._policy.replay(topic, self._last_seq[topic])
        except ReplayTooLarge as e:
            await self._drop_topic(topic)
            self._refuse("resume_gap_too_large", topic, str(e) or "fetch history first")
            return False
        for event in sorted(missed, key=_seq_or_zero):
            if self._accept(topic, event):
                await self._outgoing.put(_encode(_event_frame(topic, event)))
        return True

    def _accept(self, topic: str, event: Event) -> bool:
        """Deliver at most once per seq, in increasing order."""
        seq = event.get("seq")
        if type(seq) is not int:
            return True
        last = self._last_seq.get(topic)
        if last is not None and seq <= last:
            return False
        self._last_seq[topic] = seq
        return True

    # Heartbeat

    async def _heartbeat_loop(self) -> None:
        interval, timeout = self._limits.heartbeat_interval, self._limits.heartbeat_timeout
        while True:
            await self._clock.sleep(interval)
            if self._clock.now() - self._last_seen >= timeout:
                if self._state is SessionState.AWAITING_AUTH:
                    self._finish(CloseCode.UNAUTHORIZED, "no auth message in time")
                else:
                    self._finish(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
                return
            if self._state is SessionState.OPEN and not self._offer({"type": "ping"}):
                return


def _event_frame(topic: str, event: Event) -> dict[str, Any]:
    return {"type": "event", "topic": topic, "event": event}


def _seq_or_zero(event: Event) -> int:
    seq = event.get("seq")
    return seq if type(seq) is int else 0
