"""InProcessBroker: fan-out, bounded queues, unsubscribe and close."""

from __future__ import annotations

import asyncio

import pytest

from openplug.realtime import (
    BrokerClosed,
    Delivery,
    InProcessBroker,
    Subscription,
    SubscriptionOverflow,
    conversation_topic,
    user_topic,
)


async def take_queued(sub: Subscription) -> list[Delivery]:
    got = []
    while sub.pending:
        got.append(await anext(sub))
    return got


async def test_fan_out_to_every_subscriber_of_the_topic_only() -> None:
    broker = InProcessBroker()
    conv, other = conversation_topic(1), conversation_topic(2)
    a = await broker.subscribe([conv])
    b = await broker.subscribe([conv, user_topic(7)])
    c = await broker.subscribe([other])

    await broker.publish(conv, {"type": "message.created", "seq": 1})
    await broker.publish(user_topic(7), {"type": "unread", "count": 3})

    assert [d.event["seq"] for d in await take_queued(a)] == [1]
    assert [(d.topic, d.event.get("seq")) for d in await take_queued(b)] == [
        (conv, 1),
        (user_topic(7), None),
    ]
    assert await take_queued(c) == []


async def test_a_waiting_consumer_is_woken_by_publish() -> None:
    broker = InProcessBroker()
    sub = await broker.subscribe(["conversation:1"])
    waiting = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)  # let it park on the empty queue
    assert not waiting.done()
    await broker.publish("conversation:1", {"seq": 1})
    assert (await waiting).event == {"seq": 1}


async def test_slow_subscriber_overflows_without_growing_or_blocking() -> None:
    broker = InProcessBroker()
    slow = await broker.subscribe(["conversation:1"], max_pending=8)
    fast = await broker.subscribe(["conversation:1"], max_pending=8)
    received = []
    for seq in range(1, 1001):
        # publish returns at once (it never waits for a subscriber) ...
        await broker.publish("conversation:1", {"seq": seq})
        # ... and the slow queue never holds more than its bound.
        assert slow.pending <= 8
        received += [d.event["seq"] for d in await take_queued(fast)]

    assert received == list(range(1, 1001))
    with pytest.raises(SubscriptionOverflow, match="8 events pending"):
        await anext(slow)
    # An ended subscriber holds nothing and is no longer fanned out to.
    assert slow.pending == 0
    assert broker.subscriber_count("conversation:1") == 1
    with pytest.raises(SubscriptionOverflow):
        await anext(slow)


async def test_overflow_is_reported_even_to_a_consumer_already_waiting() -> None:
    broker = InProcessBroker()
    sub = await broker.subscribe(["t"], max_pending=1)
    # Two events land in one loop turn, before the consumer runs.
    waiting = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)
    await broker.publish("t", {"seq": 1})
    assert (await waiting).event["seq"] == 1
    await broker.publish("t", {"seq": 2})
    await broker.publish("t", {"seq": 3})
    with pytest.raises(SubscriptionOverflow):
        await anext(sub)


async def test_remove_and_close() -> None:
    broker = InProcessBroker()
    sub = await broker.subscribe(["a", "b"])
    await sub.remove(["a"])
    assert sub.topics == {"b"}
    assert broker.subscriber_count("a") == 0
    await broker.publish("a", {"n": 1})
    await broker.publish("b", {"n": 2})
    assert [d.event["n"] for d in await take_queued(sub)] == [2]

    await broker.publish("b", {"n": 3})
    assert sub.pending == 1
    sub.close()
    sub.close()  # idempotent
    # Queued events are dropped and iteration ends cleanly.
    assert sub.pending == 0
    assert [d async for d in sub] == []
    assert broker.subscriber_count("b") == 0
    with pytest.raises(RuntimeError, match="closed"):
        await sub.add(["c"])


async def test_close_wakes_a_waiting_consumer() -> None:
    broker = InProcessBroker()
    sub = await broker.subscribe(["a"])
    waiting = asyncio.create_task(anext(sub))
    await asyncio.sleep(0)
    sub.close()
    with pytest.raises(StopAsyncIteration):
        await waiting


async def test_broker_close_ends_every_subscription() -> None:
    broker = InProcessBroker()
    with_topic = await broker.subscribe(["a"])
    without = await broker.subscribe()
    await broker.aclose()
    for sub in (with_topic, without):
        with pytest.raises(BrokerClosed):
            await anext(sub)
    with pytest.raises(RuntimeError):
        await broker.subscribe(["a"])


async def test_topics_are_validated() -> None:
    broker = InProcessBroker()
    for bad in ["", "has space", "x" * 201]:
        with pytest.raises(ValueError):
            await broker.subscribe([bad])
        with pytest.raises(ValueError):
            await broker.publish(bad, {})


async def test_a_topic_keeps_its_subscribers_as_they_come_and_go() -> None:
    """One subscriber is kept without a container, several in a dict: every
    step between them keeps delivering to exactly the current ones."""
    broker = InProcessBroker()
    a, b, c = [await broker.subscribe() for _ in range(3)]
    await a.add(["t"])
    await a.add(["t"])  # again: still one
    assert broker.subscriber_count("t") == 1
    await b.add(["t"])
    await c.add(["t"])
    assert broker.subscriber_count("t") == 3
    await broker.publish("t", {"n": 1})
    await b.remove(["t"])
    await b.remove(["t"])  # not subscribed any more: nothing changes
    await broker.publish("t", {"n": 2})
    await a.remove(["t"])
    assert broker.subscriber_count("t") == 1
    await broker.publish("t", {"n": 3})
    await b.add(["t"])
    await broker.publish("t", {"n": 4})
    await c.remove(["t"])
    await b.remove(["t"])
    assert broker.subscriber_count("t") == 0
    await broker.publish("t", {"n": 5})
    got = [[d.event["n"] for d in await take_queued(s)] for s in (a, b, c)]
    assert got == [[1, 2], [1, 4], [1, 2, 3, 4]]


class Listener:
    def __init__(self) -> None:
        self.calls = 0

    def deliveries_ready(self) -> None:
        self.calls += 1


async def test_a_listening_consumer_is_called_back_and_polls() -> None:
    broker = InProcessBroker()
    sub = await broker.subscribe(["t"], max_pending=2)
    await broker.publish("t", {"n": 1})
    listener = Listener()
    sub.listen(listener)
    assert listener.calls == 1  # something was already queued
    delivery = sub.poll()
    assert delivery is not None and delivery.event == {"n": 1}
    assert sub.poll() is None and sub.pending == 0
    await broker.publish("t", {"n": 2})
    assert listener.calls == 2
    await broker.publish("t", {"n": 3})
    await broker.publish("t", {"n": 4})  # over the bound: ended, and told
    assert listener.calls == 4
    with pytest.raises(SubscriptionOverflow):
        sub.poll()
    assert sub.pending == 0
    sub.listen(None)
    sub.close()
    assert listener.calls == 4
