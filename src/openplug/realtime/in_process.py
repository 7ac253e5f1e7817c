"""The default broker: fan-out inside one process.

Publishing puts the event into each subscriber's bounded queue and returns;
nothing is copied, so an event must not be mutated once published. Only
subscribers in this process hear it: with several server processes, use
``RedisBroker``.
"""

from __future__ import annotations

from collections.abc import Iterable

from openplug.realtime._fanout import FanOut, LocalSubscription
from openplug.realtime.broker import (
    DEFAULT_MAX_PENDING,
    BrokerClosed,
    BrokerStats,
    DeliveryWatcher,
    Event,
    validate_topic,
)


class InProcessBroker:
    """A ``broker.Broker`` for a single process."""

    def __init__(self, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._fanout = FanOut()
        self._closed = False

    async def publish(self, topic: str, event: Event) -> None:
        self.publish_nowait(topic, event)

    def publish_nowait(self, topic: str, event: Event) -> int:
        """``publish`` for synchronous callers (e.g. after-commit listeners);
        returns how many local subscribers were offered the event."""
        return self._fanout.deliver(validate_topic(topic), event)

    async def subscribe(
        self, topics: Iterable[str] = (), *, max_pending: int | None = None
    ) -> LocalSubscription:
        if self._closed:
            raise RuntimeError("broker is closed")
        sub = self._fanout.track(LocalSubscription(self, max_pending or self._max_pending))
        await sub.add(topics)
        return sub

    async def aclose(self) -> None:
        self._closed = True
        self._fanout.end_all(BrokerClosed())

    def subscriber_count(self, topic: str) -> int:
        return self._fanout.subscriber_count(topic)

    def stats(self) -> BrokerStats:
        return BrokerStats(self._fanout.live(), self._fanout.delivered, up=not self._closed)

    def watch_deliveries(self, watcher: DeliveryWatcher) -> None:
        self._fanout.watchers.append(watcher)

    # SubscriptionHost
    async def attach(self, sub: LocalSubscription, topics: list[str]) -> None:
        self._fanout.attach(sub, topics)

    def detach(self, sub: LocalSubscription, topics: list[str]) -> None:
        self._fanout.detach(sub, topics)
