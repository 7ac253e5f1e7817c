"""Local fan-out shared by both brokers: topic -> subscribers, each with a
bounded queue. The in-process broker feeds it from ``publish``; the Redis
broker feeds it from its one subscriber connection."""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Protocol

from openplug.realtime.broker import (
    Delivery,
    DeliveryWatcher,
    Event,
    SubscriptionEnded,
    SubscriptionOverflow,
    validate_topic,
)


class SubscriptionListener(Protocol):
    """A subscription's consumer that is called back instead of waiting."""

    def deliveries_ready(self) -> None:
        """There may be something to ``poll``. Called synchronously from
        ``offer`` or ``end``: schedule the work, never do it here."""
        ...


class SubscriptionHost(Protocol):
    """What a subscription asks of its broker when its topics change."""

    async def attach(self, sub: LocalSubscription, topics: list[str]) -> None: ...

    def detach(self, sub: LocalSubscription, topics: list[str]) -> None: ...


class LocalSubscription:
    """A ``broker.Subscription``: a bounded deque and one consumer, which
    either iterates it (waiting on a future) or, with ``listen``, is called
    back when there is something to ``poll`` and takes it without waiting:
    then an idle subscriber holds no task, future or queue at all."""

    __slots__ = (
        "__weakref__",
        "_closed",
        "_error",
        "_host",
        "_listener",
        "_max_pending",
        "_queue",
        "_topics",
        "_waiter",
    )

    def __init__(self, host: SubscriptionHost, max_pending: int) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self._host = host
        self._max_pending = max_pending
        self._topics: set[str] = set()
        # Created on the first delivery and dropped once drained: thousands
        # of idle subscribers then cost no deque each.
        self._queue: deque[Delivery] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._listener: SubscriptionListener | None = None
        self._closed = False
        self._error: SubscriptionEnded | None = None

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self._topics)

    @property
    def pending(self) -> int:
        return len(self._queue) if self._queue else 0

    @property
    def max_pending(self) -> int:
        return self._max_pending

    @property
    def active(self) -> bool:
        return not self._closed and self._error is None

    async def add(self, topics: Iterable[str]) -> None:
        self._check_active()
        new = [validate_topic(t) for t in dict.fromkeys(topics) if t not in self._topics]
        if not new:
            return
        self._topics.update(new)
        try:
            await self._host.attach(self, new)
        except BaseException:
            self._topics.difference_update(new)
            self._host.detach(self, new)
            raise

    async def remove(self, topics: Iterable[str]) -> None:
        gone = [t for t in dict.fromkeys(topics) if t in self._topics]
        if not gone:
            return
        self._topics.difference_update(gone)
        self._host.detach(self, gone)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._release()

    def end(self, error: SubscriptionEnded) -> None:
        """Ended by the broker: the consumer sees ``error`` next."""
        if not self.active:
            return
        self._error = error
        self._release()

    def offer(self, delivery: Delivery) -> None:
        """Called by the fan-out; never blocks and never exceeds the bound."""
        if not self.active:
            return
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        elif len(queue) >= self._max_pending:
            self.end(SubscriptionOverflow(f"more than {self._max_pending} events pending"))
            return
        queue.append(delivery)
        self._wake()

    def listen(self, listener: SubscriptionListener | None) -> None:
        """Call ``listener.deliveries_ready()`` whenever there may be
        something for ``poll`` (at once when there already is), instead of
        iterating: a subscription has one consumer."""
        self._listener = listener
        if listener is not None and (self._queue or self._error is not None):
            listener.deliveries_ready()

    def poll(self) -> Delivery | None:
        """The next delivery without waiting; None when there is none now
        or the subscription was closed. Raises the ``SubscriptionEnded``
        the broker ended it with."""
        queue = self._queue
        if queue:
            delivery = queue.popleft()
            if not queue:
                self._queue = None
            return delivery
        if self._error is not None:
            raise self._error
        return None

    def __aiter__(self) -> LocalSubscription:
        return self

    async def __anext__(self) -> Delivery:
        while True:
            delivery = self.poll()
            if delivery is not None:
                return delivery
            if self._closed:
                raise StopAsyncIteration
            if self._waiter is not None:
                raise RuntimeError("a subscription has one consumer")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _check_active(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise RuntimeError("subscription is closed")

    def _release(self) -> None:
        # Drop what is queued at once: an ended subscriber must resume
        # anyway, and keeping its backlog is the memory we promised not to hold.
        self._queue = None
        topics, self._topics = list(self._topics), set()
        if topics:
            self._host.detach(self, topics)
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._listener is not None:
            self._listener.deliveries_ready()


class FanOut:
    """topic -> local subscriptions (insertion-ordered for fair delivery).

    A topic with a single local subscriber (most of them: a visitor's own
    ``user:<n>``, conversation and credential topics) maps to it directly,
    not to a one-entry dict: thousands of idle sockets then cost no
    container per topic."""

    def __init__(self) -> None:
        self._by_topic: dict[str, LocalSubscription | dict[LocalSubscription, None]] = {}
        # Every live subscription, topics or not, so that ``end_all`` reaches
        # them all; weak so that a forgotten subscription costs nothing.
        self._all: weakref.WeakSet[LocalSubscription] = weakref.WeakSet()
        # Events handed to local subscriptions, for /metrics.
        self.delivered = 0
        self.watchers: list[DeliveryWatcher] = []

    def live(self) -> int:
        return len(self._all)

    def track(self, sub: LocalSubscription) -> LocalSubscription:
        self._all.add(sub)
        return sub

    def attach(self, sub: LocalSubscription, topics: Iterable[str]) -> list[str]:
        """Register; returns the topics that had no local subscriber before."""
        first = []
        by_topic = self._by_topic
        for topic in topics:
            subs = by_topic.get(topic)
            if subs is None:
                by_topic[topic] = sub
                first.append(topic)
            elif isinstance(subs, dict):
                subs[sub] = None
            elif subs is not sub:
                by_topic[topic] = {subs: None, sub: None}
        return first

    def detach(self, sub: LocalSubscription, topics: Iterable[str]) -> list[str]:
        """Unregister; returns the topics left with no local subscriber."""
        idle = []
        by_topic = self._by_topic
        for topic in topics:
            subs = by_topic.get(topic)
            if subs is None:
                continue
            if isinstance(subs, dict):
                subs.pop(sub, None)
                if len(subs) > 1:
                    continue
                if subs:
                    by_topic[topic] = next(iter(subs))
                    continue
            elif subs is not sub:
                continue
            del by_topic[topic]
            idle.append(topic)
        return idle

    def has_subscribers(self, topic: str) -> bool:
        return topic in self._by_topic

    def subscriber_count(self, topic: str) -> int:
        subs = self._by_topic.get(topic)
        if subs is None:
            return 0
        return len(subs) if isinstance(subs, dict) else 1

    def topics(self) -> list[str]:
        return list(self._by_topic)

    def deliver(self, topic: str, event: Event) -> int:
        subs = self._by_topic.get(topic)
        if subs is None:
            return 0
        delivery = Delivery(topic, event)
        if not isinstance(subs, dict):
            subs.offer(delivery)
            n = 1
        else:
            # A copy: an overflowing subscriber detaches itself mid-loop.
            targets = list(subs)
            for sub in targets:
                sub.offer(delivery)
            n = len(targets)
        self.delivered += n
        for watcher in self.watchers:
            watcher(topic, event, n)
        return n

    def end_all(self, error: SubscriptionEnded, *, only_with_topics: bool = False) -> None:
        for sub in list(self._all):
            if sub.topics or not only_with_topics:
                sub.end(error)
