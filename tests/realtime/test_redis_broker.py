"""RedisBroker against the real Redis at 127.0.0.1:6379 (or
OPENPLUG_TEST_REDIS); every test uses its own channel prefix."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from openplug.realtime import (
    BrokerDisconnected,
    Delivery,
    Subscription,
    SubscriptionOverflow,
    make_broker,
)
from openplug.realtime.redis_broker import RedisBroker
from tests.backends import REDIS_URL, redis_url
from tests.realtime.fakes import WAIT, FakePolicy
from tests.realtime.test_socket_session import CONV, message, seqs, socket


@pytest.fixture
async def admin() -> AsyncIterator[Redis]:
    client = Redis.from_url(await redis_url(), socket_connect_timeout=2)
    yield client
    await client.aclose()


@pytest.fixture
async def make(admin: Redis) -> AsyncIterator[Callable[..., RedisBroker]]:
    """Brokers sharing one fresh channel prefix, as processes of one deployment."""
    prefix = f"openplug-test:{os.getpid()}:{secrets.token_hex(4)}:"
    brokers: list[RedisBroker] = []

    def new(**kwargs: object) -> RedisBroker:
        broker = RedisBroker(REDIS_URL, channel_prefix=prefix, **kwargs)
        brokers.append(broker)
        return broker

    yield new
    for broker in brokers:
        await broker.aclose()


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll Redis until ``check`` holds (Redis-side state changes after a
    round trip we do not await, e.g. a background UNSUBSCRIBE)."""
    async with asyncio.timeout(WAIT):
        while not await check():  # noqa: ASYNC110 (the state is in Redis)
            await asyncio.sleep(0.01)


async def next_delivery(sub: Subscription) -> Delivery:
    async with asyncio.timeout(WAIT):
        return await anext(sub)


async def numsub(admin: Redis, broker: RedisBroker, topic: str) -> int:
    [(_, count)] = await admin.pubsub_numsub(broker.channel_prefix + topic)
    return int(count)


async def test_events_round_trip_as_json_to_every_local_subscriber(
    make: Callable[..., RedisBroker],
) -> None:
    broker = make()
    a = await broker.subscribe(["conversation:1"])
    b = await broker.subscribe(["conversation:1", "user:9"])
    event = {"type": "message.created", "seq": 1, "body": "héllo <b>", "n": [1.5, None, True]}
    await broker.publish("conversation:1", event)
    await broker.publish("user:9", {"type": "unread", "count": 2})
    assert await next_delivery(a) == Delivery("conversation:1", event)
    assert await next_delivery(b) == Delivery("conversation:1", event)
    assert await next_delivery(b) == Delivery("user:9", {"type": "unread", "count": 2})


async def test_two_brokers_see_each_others_events(make: Callable[..., RedisBroker]) -> None:
    one, two = make(), make()
    on_one = await one.subscribe(["conversation:1"])
    on_two = await two.subscribe(["conversation:1"])
    await one.publish("conversation:1", {"seq": 1, "from": "one"})
    await two.publish("conversation:1", {"seq": 2, "from": "two"})
    for sub in (on_one, on_two):
        got = [(await next_delivery(sub)).event["from"] for _ in range(2)]
        assert got == ["one", "two"]


async def test_one_redis_connection_serves_every_local_subscriber(
    make: Callable[..., RedisBroker], admin: Redis
) -> None:
    broker = make()
    shared = [await broker.subscribe(["conversation:1"]) for _ in range(20)]
    own = [await broker.subscribe([f"user:{i}"]) for i in range(20)]
    assert await numsub(admin, broker, "conversation:1") == 1
    assert await numsub(admin, broker, "user:7") == 1
    clients = await admin.client_list(_type="pubsub")
    ours = [c for c in clients if c["name"] == broker.subscriber_client_name]
    assert len(ours) == 1
    assert int(ours[0]["sub"]) == 21
    await broker.publish("conversation:1", {"seq": 1})
    for sub in shared:
        assert (await next_delivery(sub)).event == {"seq": 1}
    assert all(sub.pending == 0 for sub in own)


async def test_last_subscriber_leaving_unsubscribes_and_a_quick_return_still_hears(
    make: Callable[..., RedisBroker], admin: Redis
) -> None:
    broker = make()
    first = await broker.subscribe(["conversation:1", "conversation:2"])
    second = await broker.subscribe(["conversation:2"])
    await first.remove(["conversation:1"])

    async def released() -> bool:
        return await numsub(admin, broker, "conversation:1") == 0

    await eventually(released)
    first.close()
    assert await numsub(admin, broker, "conversation:2") == 1  # second still there

    # Released and taken again in the same turn: the UNSUBSCRIBE queued by
    # close() must not win over the new SUBSCRIBE.
    second.close()
    again = await broker.subscribe(["conversation:2"])
    await broker.publish("conversation:2", {"seq": 5})
    assert (await next_delivery(again)).event == {"seq": 5}
    assert await numsub(admin, broker, "conversation:2") == 1


async def test_slow_local_subscriber_overflows_with_bounded_queue(
    make: Callable[..., RedisBroker],
) -> None:
    publisher, receiver = make(), make()
    slow = await receiver.subscribe(["conversation:1"], max_pending=4)
    marker = await receiver.subscribe(["conversation:marker"])
    for n in range(20):
        await publisher.publish("conversation:1", {"seq": n})
    # Redis delivers one connection's messages in publish order: once the
    # marker is here, the twenty were fanned out before it.
    await publisher.publish("conversation:marker", {})
    await next_delivery(marker)
    assert slow.pending == 0  # dropped on overflow, never more than 4
    with pytest.raises(SubscriptionOverflow):
        await anext(slow)
    assert receiver.subscriber_count("conversation:1") == 0


async def test_lost_connection_ends_subscriptions_and_the_next_one_reconnects(
    make: Callable[..., RedisBroker], admin: Redis
) -> None:
    publisher, broker = make(), make()
    sub = await broker.subscribe(["conversation:1"])
    clients = await admin.client_list(_type="pubsub")
    [ours] = [c for c in clients if c["name"] == broker.subscriber_client_name]
    await admin.client_kill_filter(_id=ours["id"])
    with pytest.raises(BrokerDisconnected):
        await next_delivery(sub)

    again = await broker.subscribe(["conversation:1"])
    await publisher.publish("conversation:1", {"seq": 2})
    assert (await next_delivery(again)).event == {"seq": 2}


async def test_make_broker_picks_the_implementation(admin: Redis) -> None:
    from openplug.realtime import InProcessBroker

    assert isinstance(make_broker(None), InProcessBroker)
    broker = make_broker(REDIS_URL)
    assert isinstance(broker, RedisBroker)
    await broker.aclose()


async def test_socket_resumes_across_processes(make: Callable[..., RedisBroker]) -> None:
    """A widget on process two hears an agent's message posted on process
    one, and a reconnect to process one resumes exactly after it."""
    one, two = make(), make()
    policy = FakePolicy([CONV], {CONV: [message(1)]})
    async with socket(policy, broker=two) as s:
        await s.subscribe(CONV, after_seq=0)
        policy.history[CONV].append(message(2))
        await one.publish(CONV, message(2))
        await s.client.wait_for(lambda _: len(s.client.events()) == 2)
    policy.history[CONV].append(message(3))
    async with socket(policy, broker=one) as s2:
        await s2.subscribe(CONV, after_seq=2)
        await two.publish(CONV, message(4))
        await s2.client.wait_for(lambda _: len(s2.client.events()) == 2)
    assert seqs(s.client.events()) + seqs(s2.client.events()) == [1, 2, 3, 4]
