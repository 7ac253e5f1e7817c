"""One realtime socket's life, independent of the web framework.

A WebSocket route accepts the connection, wraps it in a ``SocketTransport``
and awaits ``SocketSession(...).run()``. The protocol, JSON text frames:

client -> server (flat JSON objects in text frames, at most
``max_frame_chars`` long and ``max_frame_depth`` deep, at most
``frame_burst`` at once and ``frame_rate`` a second beyond that)

- ``{"type": "auth", ...}`` first, within ``heartbeat_timeout``; the whole
  frame goes to the ``authenticate`` callback (tokens never in URLs).
- ``{"type": "subscribe", "topic": "conversation:12", "after_seq": 41}``;
  ``after_seq`` is optional: with it the client first gets every event
  after that seq (replayed from the database), then live ones. A seq is
  an integer from 0 to ``MAX_SEQ``.
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

- 4400 protocol error: a frame that is not JSON, not an object with a
  string ``type``, or nested deeper than ``max_frame_depth``; 1009 a frame
  longer than ``max_frame_chars``; 1003 a binary frame. 4408 heartbeat
  timeout.
- 4401 not authenticated: the auth frame's credential was refused (or it
  ended while the socket was being set up). Reconnecting with the same
  credential is refused again.
- 4410 credential revoked: it stopped being valid while the socket was
  open (logout, the user's sessions revoked, the user deleted or merged
  into another, the PAT revoked, the agent's password changed). 4440 credential expired: its expiry
  passed while the socket was open (440, "login time-out"). On either,
  get a new credential before reconnecting; the widget treats both like
  an HTTP 401 (an identified visitor's session has expired: it never falls
  back to anonymous). See ``realtime.credentials``.
- 4429 too slow (back-pressure), or too many frames sent (more than
  ``frame_burst`` at once, ``frame_rate`` a second beyond), and 4503
  broker lost: reconnect and resubscribe with the last seq seen; nothing
  is lost or repeated.

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
import contextvars
import enum
import json
import logging
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from openplug.realtime._fanout import LocalSubscription
from openplug.realtime.broker import (
    DEFAULT_MAX_PENDING,
    Broker,
    Delivery,
    Event,
    Subscription,
    SubscriptionEnded,
    SubscriptionOverflow,
    validate_topic,
)
from openplug.realtime.credentials import (
    Credential,
    CredentialBatch,
    CredentialEnded,
    Recheck,
)

log = logging.getLogger("openplug.realtime")


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    UNSUPPORTED_DATA = 1003  # a binary frame: the protocol is JSON text
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    # The server is shutting down (uvicorn's close on SIGTERM): reconnect,
    # to another process, and resume from the last seq seen.
    SERVICE_RESTART = 1012
    PROTOCOL_ERROR = 4400
    UNAUTHORIZED = 4401
    HEARTBEAT_TIMEOUT = 4408
    # Get a new credential before reconnecting:
    CREDENTIAL_REVOKED = 4410
    CREDENTIAL_EXPIRED = 4440
    # Reconnect and resume from the last seq seen:
    TOO_SLOW = 4429
    TOO_MANY_FRAMES = 4429  # the same code (HTTP 429) when the client sends too fast
    BROKER_UNAVAILABLE = 4503


class BinaryFrame(Exception):
    """Raised by ``SocketTransport.receive_text`` for a binary frame."""


class SocketTransport(Protocol):
    """The few things a session needs from a WebSocket."""

    async def receive_text(self) -> str | None:
        """The next text frame, or ``None`` once the client has gone;
        raises ``BinaryFrame`` for a binary one."""
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
    # Frames are flat objects; the json module parses nesting by recursion,
    # so a frame thousands of levels deep would raise RecursionError.
    max_frame_depth: int = 8
    # Incoming frames: a burst, then a steady rate (a token bucket). Every
    # frame is work for the server (a subscribe is a database read), and a
    # real client sends a few a minute: its subscriptions after a
    # reconnect, typing every few seconds, pongs.
    frame_burst: int = 100
    frame_rate: float = 20.0
    # How often the sweeper re-checks open sockets' credentials, for ends
    # nobody announced (see ``realtime.credentials``): the longest such a
    # socket stays open.
    credential_recheck_interval: float = 5.0


_DEFAULT_LIMITS = SessionLimits()
_MONOTONIC = MonotonicClock()


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


# The largest seq a client may name: seqs are 32-bit integers in the
# store, and a query with a larger one would fail there.
MAX_SEQ = 2**31 - 1


class _ProtocolError(Exception):
    """A frame the protocol cannot take; the socket closes with ``code``."""

    def __init__(self, reason: str, code: int = CloseCode.PROTOCOL_ERROR) -> None:
        super().__init__(reason)
        self.code = code


def _encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


_PING = _encode({"type": "ping"})
_PONG = _encode({"type": "pong"})
# The expiry timers' callbacks run in this one context instead of a copy
# each (they only call ``_finish``).
_TIMER_CONTEXT = contextvars.Context()


class SocketSession:
    """Drives one socket: auth, subscriptions with resume, heartbeat,
    bounded outgoing queue. ``run()`` returns how it ended.

    An idle socket costs no task of its own: ``run()`` reads the client's
    frames in the caller's task (the WebSocket route's), the heartbeat is
    one sweeper task for all sessions (``_Heartbeats``), and a writer or
    pump task exists only while there is something to send or to take
    from the subscription. Everything else that can end the session (the
    pump, the sweeper, the expiry timer, a failed send) does so through
    ``_finish``, which interrupts ``run()``'s read."""

    __slots__ = (
        "_allowance",
        "_allowance_at",
        "_authenticate",
        "_broker",
        "_clock",
        "_control",
        "_credential",
        "_end",
        "_expiry",
        "_interrupted",
        "_last_seen",
        "_last_seq",
        "_limits",
        "_lock",
        "_next_ping",
        "_outgoing",
        "_peer_gone",
        "_policy",
        "_pump_task",
        "_reader",
        "_room",
        "_state",
        "_subscription",
        "_topics",
        "_transport",
        "_writer",
    )

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
        self._authenticate: Authenticate | None = authenticate
        self._limits = limits or _DEFAULT_LIMITS
        self._clock = clock or _MONOTONIC
        self._state = SessionState.AWAITING_AUTH
        self._policy: SocketPolicy | None = None
        self._subscription: Subscription | None = None
        # Encoded frames for the client, at most ``max_outgoing``; the deque
        # and a writer task exist only while there is something to send.
        self._outgoing: deque[str] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._room: asyncio.Future[None] | None = None  # a replay waits for the writer
        self._topics: set[str] = set()
        self._last_seq: dict[str, int] = {}
        # Held while a subscribe replays, so the pump cannot interleave
        # live events with the replay.
        self._lock = asyncio.Lock()
        # Taking deliveries from the subscription; only while there are some.
        self._pump_task: asyncio.Task[None] | None = None
        self._last_seen = 0.0
        self._next_ping = 0.0
        self._end: SessionEnd | None = None  # set once: the session is closing
        self._peer_gone = False
        # The task in ``run()`` while it reads (``_finish`` interrupts it).
        self._reader: asyncio.Task[Any] | None = None
        self._interrupted = False
        self._credential: Credential | None = None
        self._control: tuple[str, ...] = ()  # the credential's topics
        self._expiry: asyncio.TimerHandle | None = None
        # Frames the client may still send right now (see ``frame_burst``).
        self._allowance = float(self._limits.frame_burst)
        self._allowance_at = 0.0

    @property
    def state(self) -> SessionState:
        return self._state

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    @property
    def queued_frames(self) -> int:
        """Frames waiting for the client (never above ``max_outgoing``)."""
        return len(self._outgoing) if self._outgoing else 0

    async def run(self) -> SessionEnd:
        self._last_seen = self._allowance_at = now = self._clock.now()
        self._next_ping = now + self._limits.heartbeat_interval
        heartbeats = _Heartbeats.join(self)
        # The client's frames are read here, in the caller's task, until the
        # session ends; an end decided elsewhere cancels the read (as
        # ``asyncio.timeout`` does: only our own cancellation is absorbed).
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        self._reader = task
        try:
            while self._end is None:
                try:
                    text = await self._transport.receive_text()
                except BinaryFrame:
                    self._finish(CloseCode.UNSUPPORTED_DATA, "frames are JSON text, not binary")
                    break
                if text is None:
                    self._finish(CloseCode.NORMAL, "client went away", peer_gone=True)
                    break
                self._last_seen = now = self._clock.now()
                if not self._allowed(now):
                    self._finish(CloseCode.TOO_MANY_FRAMES, "too many frames: slow down")
                    break
                await self._handle(text)
        except asyncio.CancelledError:
            if not self._interrupted or task.uncancel() > cancelling:
                raise
        except Exception:
            log.exception("realtime socket receive loop failed")
            self._finish(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self._reader = None
            heartbeats.leave(self)
            if self._expiry is not None:
                self._expiry.cancel()
            self._set_state(SessionState.CLOSED)
            self._outgoing = None
            helpers = [t for t in (self._writer, self._pump_task) if t is not None]
            for helper in helpers:
                helper.cancel()
            if helpers:
                await asyncio.gather(*helpers, return_exceptions=True)
            if self._subscription is not None:
                if isinstance(self._subscription, LocalSubscription):
                    self._subscription.listen(None)
                self._subscription.close()
        end = self._end or SessionEnd(CloseCode.NORMAL, "")
        if not self._peer_gone:
            try:
                await self._transport.close(end.code, end.reason)
            except Exception as e:
                log.debug("closing a realtime socket: %r", e)
        return end

    # Lifecycle

    def _finish(self, code: int, reason: str, *, peer_gone: bool = False) -> None:
        if self._end is not None:
            return
        self._end = SessionEnd(code, reason)
        self._peer_gone = peer_gone
        self._outgoing = None  # nothing more is sent once closing
        self._wake_room()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            self._interrupted = True
            reader.cancel()

    def _arm_expiry(self, delay: float) -> None:
        loop = asyncio.get_running_loop()
        self._expiry = loop.call_at(
            loop.time() + max(0.0, delay), self._expired, context=_TIMER_CONTEXT
        )

    def _expired(self) -> None:
        assert self._credential is not None and self._credential.expires_at is not None
        left = self._credential.expires_at - time.time()
        if left > 0:
            # Early: the loop's timers run on its cached clock, in whole
            # milliseconds (uvloop). Never report an expiry before it.
            self._arm_expiry(left + 0.001)
            return
        self._finish(CloseCode.CREDENTIAL_EXPIRED, "the credential expired: get a new one")

    def _set_state(self, new: SessionState) -> None:
        if new is self._state:
            return
        if new not in _TRANSITIONS[self._state]:
            raise RuntimeError(f"socket session cannot go from {self._state} to {new}")
        self._state = new

    # Outgoing

    def _offer(self, frame: dict[str, Any]) -> bool:
        return self._offer_text(_encode(frame))

    def _offer_text(self, text: str) -> bool:
        """Queue without waiting; a full queue means the client is not
        reading, and it is closed rather than buffered without bound."""
        if self._end is not None:
            return False
        outgoing = self._outgoing
        if outgoing is None:
            outgoing = self._outgoing = deque()
        elif len(outgoing) >= self._limits.max_outgoing:
            self._finish(CloseCode.TOO_SLOW, "client too slow: reconnect and resume")
            return False
        outgoing.append(text)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
        return True

    async def _put(self, text: str) -> bool:
        """Queue, waiting for room: a replay may exceed the queue, and our
        own backlog is not a slow client. False once the session ends."""
        while self.queued_frames >= self._limits.max_outgoing and self._end is None:
            # One waiter at most: replays (subscribe, gap fill) hold the lock.
            room = self._room = asyncio.get_running_loop().create_future()
            try:
                await room
            finally:
                if self._room is room:
                    self._room = None
        return self._offer_text(text)

    def _wake_room(self) -> None:
        if self._room is not None and not self._room.done():
            self._room.set_result(None)

    async def _write(self) -> None:
        """Send what is queued, then end: an idle socket has no writer."""
        try:
            while (outgoing := self._outgoing) and self._end is None:
                text = outgoing.popleft()
                if not outgoing:
                    self._outgoing = None
                self._wake_room()
                try:
                    await self._transport.send_text(text)
                except Exception as e:
                    log.debug("realtime socket send failed: %r", e)
                    self._finish(CloseCode.NORMAL, "client went away", peer_gone=True)
                    return
        finally:
            self._writer = None

    # Incoming

    def _allowed(self, now: float) -> bool:
        """Take one frame from the client's allowance (a token bucket)."""
        limits = self._limits
        allowance = min(
            float(limits.frame_burst),
            self._allowance + (now - self._allowance_at) * limits.frame_rate,
        )
        self._allowance_at = now
        if allowance < 1.0:
            self._allowance = allowance
            return False
        self._allowance = allowance - 1.0
        return True

    async def _handle(self, text: str) -> None:
        try:
            frame = self._parse(text)
            if self._state is SessionState.AWAITING_AUTH:
                await self._authenticate_with(frame)
            else:
                await self._dispatch(frame)
        except _ProtocolError as e:
            self._finish(e.code, str(e))

    def _parse(self, text: str) -> dict[str, Any]:
        limits = self._limits
        if len(text) > limits.max_frame_chars:
            raise _ProtocolError(
                f"frame too large: at most {limits.max_frame_chars} characters",
                CloseCode.MESSAGE_TOO_BIG,
            )
        if _nested_deeper_than(text, limits.max_frame_depth):
            raise _ProtocolError(f"frame nested deeper than {limits.max_frame_depth} levels")
        try:
            # ValueError includes numbers beyond int()'s digit limit.
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
        assert self._authenticate is not None
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
            self._credential, self._control = credential, tuple(credential.topics)
            if credential.expires_at is not None:
                self._arm_expiry(credential.expires_at - time.time())
        self._policy = policy
        self._authenticate = None  # not needed any more: let it go
        self._set_state(SessionState.OPEN)
        if not self._offer(
            {"type": "ready", "heartbeat_interval": self._limits.heartbeat_interval}
        ):
            return False
        subscription = self._subscription
        if isinstance(subscription, LocalSubscription):
            # Called back on each delivery (and at once for any already queued).
            subscription.listen(self)
        else:
            self._pump_task = asyncio.get_running_loop().create_task(
                self._guarded(self._pump_iterating(subscription))
            )
        return True

    async def _dispatch(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "ping":
            self._offer_text(_PONG)
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
        if after_seq is not None and (type(after_seq) is not int or not 0 <= after_seq <= MAX_SEQ):
            self._refuse("invalid_after_seq", topic, f"after_seq is an integer from 0 to {MAX_SEQ}")
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
                if self._accept(topic, event) and not await self._put(
                    _encode(_event_frame(topic, event))
                ):
                    return

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

    def deliveries_ready(self) -> None:
        """The subscription has something: take it in a pump task, unless
        one is running (it takes everything queued before it ends)."""
        if self._pump_task is None and self._state is SessionState.OPEN and self._end is None:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def _pump(self) -> None:
        subscription = self._subscription
        assert isinstance(subscription, LocalSubscription)
        try:
            while self._end is None:
                delivery = subscription.poll()
                if delivery is None:
                    return  # drained: the next delivery starts another pump
                if not await self._take(delivery):
                    return
        except SubscriptionEnded as e:
            self._subscription_ended(e)
        except Exception:
            log.exception("realtime socket pump failed")
            self._finish(CloseCode.INTERNAL_ERROR, "internal error")
        finally:
            self._pump_task = None

    async def _pump_iterating(self, subscription: Subscription) -> None:
        """The pump for a ``Subscription`` that only iterates: one task for
        the socket's lifetime."""
        try:
            async for delivery in subscription:
                if not await self._take(delivery):
                    return
        except SubscriptionEnded as e:
            self._subscription_ended(e)

    async def _guarded(self, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("realtime socket pump failed")
            self._finish(CloseCode.INTERNAL_ERROR, "internal error")

    def _subscription_ended(self, error: SubscriptionEnded) -> None:
        if isinstance(error, SubscriptionOverflow):
            self._finish(CloseCode.TOO_SLOW, f"{error}: reconnect and resume")
        else:
            self._finish(CloseCode.BROKER_UNAVAILABLE, f"{error}: reconnect and resume")

    async def _take(self, delivery: Delivery) -> bool:
        """One live event to the client; False once the session ends."""
        # Not under the lock: a replay in progress must not delay it.
        if delivery.topic in self._control:
            return await self._credential_still_valid()
        async with self._lock:
            topic, event = delivery.topic, delivery.event
            if topic not in self._topics:
                return True
            if self._skips_ahead(topic, event) and not await self._fill_gap(topic):
                return self._end is None
            if not self._accept(topic, event):
                return True
            return self._offer(_event_frame(topic, event))

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

    def _open_recheck(self) -> Recheck[Any] | None:
        """What the sweeper re-checks for this session, while it is open."""
        credential = self._credential
        return credential.recheck if credential is not None and self._end is None else None

    def _credential_ended(self, ended: CredentialEnded) -> None:
        """The sweeper's re-check found this socket's credential ended."""
        if ended.expired:
            self._finish(CloseCode.CREDENTIAL_EXPIRED, ended.reason)
        else:
            self._finish(CloseCode.CREDENTIAL_REVOKED, ended.reason)

    def _skips_ahead(self, topic: str, event: Event) -> bool:
        seq, last = event.get("seq"), self._last_seq.get(topic)
        return type(seq) is int and last is not None and seq > last + 1

    async def _fill_gap(self, topic: str) -> bool:
        """A live event skipped a seq: several processes published out of
        commit order, or an event was lost. Replay from the store what came
        after the last seq sent, so nothing is missing. False when the topic
        was dropped because the gap is too large to replay, or the session
        ended meanwhile."""
        assert self._policy is not None
        try:
            missed = await self._policy.replay(topic, self._last_seq[topic])
        except ReplayTooLarge as e:
            await self._drop_topic(topic)
            self._refuse("resume_gap_too_large", topic, str(e) or "fetch history first")
            return False
        for event in sorted(missed, key=_seq_or_zero):
            if self._accept(topic, event) and not await self._put(
                _encode(_event_frame(topic, event))
            ):
                return False
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

    def _beat(self, now: float) -> None:
        """Called by the sweeper every ``heartbeat_interval / HEARTBEAT_TICKS``:
        close a silent socket, ping an open one every ``heartbeat_interval``."""
        if self._end is not None:
            return
        if now - self._last_seen >= self._limits.heartbeat_timeout:
            if self._state is SessionState.AWAITING_AUTH:
                self._finish(CloseCode.UNAUTHORIZED, "no auth message in time")
            else:
                self._finish(CloseCode.HEARTBEAT_TIMEOUT, "heartbeat timeout")
        elif self._state is SessionState.OPEN and now >= self._next_ping:
            self._next_ping = now + self._limits.heartbeat_interval
            self._offer_text(_PING)


# Sweeps per heartbeat interval: a socket is pinged every interval (plus at
# most one tick) and closed at most one tick after its heartbeat timeout.
HEARTBEAT_TICKS = 5
# Sessions handled per loop turn in a sweep, so that pinging thousands of
# sockets never holds up deliveries for long.
SWEEP_CHUNK = 128


# (loop, id(clock), heartbeat interval, credential re-check interval)
_SweepKey = tuple[asyncio.AbstractEventLoop, int, float, float]


class _Heartbeats:
    """One task per event loop, clock and intervals that pings and checks
    every session (``SocketSession._beat``) and re-checks their credentials
    (``_recheck_credentials``), instead of a task per socket. It exists
    while it has sessions."""

    # The entry holds the clock, so its id stays its own while it exists.
    _all: dict[_SweepKey, _Heartbeats] = {}

    def __init__(self, key: _SweepKey, clock: Clock) -> None:
        self._key = key
        self._clock = clock
        self._sessions: dict[SocketSession, None] = {}
        self._task: asyncio.Task[None] | None = None
        self._recheck: asyncio.Task[None] | None = None

    @classmethod
    def join(cls, session: SocketSession) -> _Heartbeats:
        loop = asyncio.get_running_loop()
        clock = session._clock
        limits = session._limits
        key = (loop, id(clock), limits.heartbeat_interval, limits.credential_recheck_interval)
        self = cls._all.get(key)
        if self is None:
            self = cls._all[key] = cls(key, clock)
        self._sessions[session] = None
        if self._task is None:
            self._task = loop.create_task(self._sweep())
        return self

    def leave(self, session: SocketSession) -> None:
        self._sessions.pop(session, None)
        if not self._sessions:
            for task in (self._task, self._recheck):
                if task is not None:
                    task.cancel()
            self._task = self._recheck = None
            if self._all.get(self._key) is self:
                del self._all[self._key]

    async def _sweep(self) -> None:
        clock = self._clock
        _, _, interval, recheck_every = self._key
        tick = min(interval / HEARTBEAT_TICKS, recheck_every)
        next_recheck = clock.now() + recheck_every
        while True:
            await clock.sleep(tick)
            now = clock.now()
            # Its own task: a slow database must not hold up the pings. One
            # at a time: while the last one still runs, this turn is skipped.
            if now >= next_recheck and self._recheck is None:
                next_recheck = now + recheck_every
                self._recheck = asyncio.get_running_loop().create_task(self._recheck_credentials())
            for n, session in enumerate(list(self._sessions), 1):
                try:
                    session._beat(now)
                except Exception:
                    log.exception("realtime heartbeat failed")
                if n % SWEEP_CHUNK == 0:
                    await asyncio.sleep(0)

    async def _recheck_credentials(self) -> None:
        """Ask each kind of credential once (``CredentialBatch.ended``) about
        every open session's, and close those that ended."""
        try:
            groups: dict[CredentialBatch[Any], dict[Hashable, list[SocketSession]]] = {}
            for n, session in enumerate(list(self._sessions), 1):
                recheck = session._open_recheck()
                if recheck is not None:
                    by_ref = groups.setdefault(recheck.batch, {})
                    by_ref.setdefault(recheck.ref, []).append(session)
                if n % SWEEP_CHUNK == 0:
                    await asyncio.sleep(0)
            for batch, by_ref in groups.items():
                try:
                    ended = await batch.ended(by_ref.keys())
                except Exception:
                    log.exception("re-checking open sockets' credentials failed")
                    continue
                for ref, why in ended.items():
                    for session in by_ref.get(ref, ()):
                        session._credential_ended(why)
        finally:
            if self._recheck is asyncio.current_task():
                self._recheck = None


# A JSON string (escapes included), and the brackets outside strings.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _nested_deeper_than(text: str, limit: int) -> bool:
    """Whether ``text``'s arrays and objects nest more than ``limit`` levels,
    found without parsing it (and so without recursion). A frame that is
    not JSON at all may be counted wrong; ``json.loads`` refuses it next."""
    if text.count("{") + text.count("[") <= limit:
        return False  # every ordinary frame: it cannot nest deeper
    depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _event_frame(topic: str, event: Event) -> dict[str, Any]:
    return {"type": "event", "topic": topic, "event": event}


def _seq_or_zero(event: Event) -> int:
    seq = event.get("seq")
    return seq if type(seq) is int else 0
