"""The pub/sub interface realtime events travel through.

A *topic* is a string naming who may be told: ``conversation:<id>`` for
everyone watching one conversation, ``user:<id>`` for one person's other
tabs and devices, and ``credentials:<kind>:<id>``, the sessions' own control
topic for revoked credentials (see ``credentials``). An *event* is a
JSON-serialisable dict; events about a conversation's messages carry that
conversation's ``seq`` so that a reconnecting client can resume, but the
broker never looks inside them.

Publish only after the transaction that made the change has committed: a
client must never be told about data that then rolls back, and the resume
algorithm (``socket_session``) relies on "committed before the replay read,
or published after it".

Two implementations share this interface: ``InProcessBroker`` (one
process, the default) and ``RedisBroker`` (several processes behind one
Redis). Either way each subscriber has a bounded queue: a subscriber that
falls behind is ended with ``SubscriptionOverflow`` instead of growing
memory or slowing publishers, and is expected to reconnect and resume.

```python
sub = await broker.subscribe([conversation_topic(12)])
try:
    async for delivery in sub:
        print(delivery.topic, delivery.event)
except SubscriptionEnded as ended:
    ...  # reconnect and resume from the last seq seen
finally:
    sub.close()
```
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

Event = dict[str, Any]

# Enough for a burst of messages in a busy conversation; small enough that
# thousands of idle sockets cost nothing (the queue only grows when used).
DEFAULT_MAX_PENDING = 256
MAX_TOPIC_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event as a subscriber receives it, with the topic it came on."""

    topic: str
    event: Event


class SubscriptionEnded(Exception):
    """The subscription stopped delivering; the reason says why. Events may
    have been missed: reconnect and resume from the last seq seen."""

    reason: str = "subscription ended"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.reason)


class SubscriptionOverflow(SubscriptionEnded):
    """The subscriber fell more than its queue bound behind."""

    reason = "subscriber too slow: queue bound exceeded"


class BrokerDisconnected(SubscriptionEnded):
    """The broker lost its upstream (Redis) connection; events published
    meanwhile were not received."""

    reason = "broker connection lost"


class BrokerClosed(SubscriptionEnded):
    """The broker was shut down (the server is stopping)."""

    reason = "broker closed"


class PublishFailed(Exception):
    """The broker could not accept an event (e.g. Redis unreachable). The
    change is committed regardless; clients catch up when they resume."""


def validate_topic(topic: str) -> str:
    if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
        raise ValueError(f"a topic is a non-empty string of at most {MAX_TOPIC_LENGTH} characters")
    if any(c.isspace() for c in topic):
        raise ValueError(f"a topic has no whitespace: {topic!r}")
    return topic


def conversation_topic(conversation_id: int | str) -> str:
    return f"conversation:{conversation_id}"


def user_topic(user_id: int | str) -> str:
    return f"user:{user_id}"


@runtime_checkable
class Subscription(Protocol):
    """One subscriber's view: a bounded queue fed by the topics it holds.

    Iterate it (one consumer) for ``Delivery`` items. Iteration ends
    (``StopAsyncIteration``) after ``close()``, and raises a
    ``SubscriptionEnded`` subclass when the broker ended it.
    """

    @property
    def topics(self) -> frozenset[str]: ...

    @property
    def pending(self) -> int:
        """Deliveries queued and not yet taken (never above the bound)."""
        ...

    async def add(self, topics: Iterable[str]) -> None:
        """Start receiving these topics. When this returns, every event
        published afterwards (in any process) on them is delivered."""
        ...

    async def remove(self, topics: Iterable[str]) -> None: ...

    def close(self) -> None:
        """Stop receiving; idempotent. Queued deliveries are dropped."""
        ...

    def __aiter__(self) -> AsyncIterator[Delivery]: ...

    async def __anext__(self) -> Delivery: ...


@dataclass(frozen=True)
class BrokerStats:
    """What /metrics shows of a process's broker."""

    subscriptions: int  # live local subscriptions (about one per open socket)
    delivered: int  # events handed to local subscriptions, since start
    up: bool  # delivering (Redis reachable, or in-process)


# Told of every event handed to local subscriptions: (topic, event, how many).
DeliveryWatcher = Callable[[str, Event, int], None]


@runtime_checkable
class Broker(Protocol):
    async def publish(self, topic: str, event: Event) -> None:
        """Send ``event`` to every current subscriber of ``topic``. Never
        blocks on slow subscribers. Call it after commit."""
        ...

    async def subscribe(
        self, topics: Iterable[str] = (), *, max_pending: int | None = None
    ) -> Subscription:
        """A new subscription, already receiving ``topics`` (more can be
        added later) with at most ``max_pending`` queued deliveries."""
        ...

    async def aclose(self) -> None:
        """End every subscription and release connections."""
        ...

    def stats(self) -> BrokerStats: ...

    def watch_deliveries(self, watcher: DeliveryWatcher) -> None:
        """Call ``watcher`` after each event is handed to local subscribers
        (in the event loop's thread; it must not block)."""
        ...
