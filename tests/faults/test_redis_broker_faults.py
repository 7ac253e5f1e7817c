"""``RedisBroker`` on its own (no HTTP) through the fault proxy, in front of
a redis-server the test starts: a silent connection is given up, a
publish survives a connection Redis reset."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from openplug.realtime import BrokerDisconnected, Delivery
from openplug.realtime.redis_broker import RedisBroker
from tests.faults.proxy import FaultProxy
from tests.faults.redis_server import RedisServer
from tests.realtime.fakes import WAIT


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[FaultProxy]:
    redis = RedisServer(tmp_path).start()
    proxy = FaultProxy("127.0.0.1", redis.port).start()
    try:
        yield proxy
    finally:
        proxy.close()
        redis.stop()


@pytest.fixture
async def brokers(proxy: FaultProxy) -> AsyncIterator[tuple[RedisBroker, RedisBroker]]:
    url = f"redis://{proxy.address}/0"
    through = RedisBroker(url, timeout=0.5, health_check_interval=0.3)
    other = RedisBroker(url, timeout=0.5, health_check_interval=0.3)
    yield through, other
    await through.aclose()
    await other.aclose()


async def test_a_silent_subscriber_connection_is_given_up_and_replaced(
    proxy: FaultProxy, brokers: tuple[RedisBroker, RedisBroker]
) -> None:
    listener, publisher = brokers
    sub = await listener.subscribe(["conversation:1"])
    proxy.drop()  # every connection open now goes silent, for good
    with pytest.raises(BrokerDisconnected):
        async with asyncio.timeout(WAIT):
            await anext(sub)
    # The next subscription opens a new connection, which delivers.
    again = await listener.subscribe(["conversation:1"])
    await publisher.publish("conversation:1", {"type": "x", "seq": 2})
    async with asyncio.timeout(WAIT):
        assert await anext(again) == Delivery("conversation:1", {"type": "x", "seq": 2})


async def test_a_publish_on_a_connection_redis_reset_is_retried_on_a_fresh_one(
    proxy: FaultProxy, brokers: tuple[RedisBroker, RedisBroker]
) -> None:
    publisher, listener = brokers
    await publisher.publish("conversation:1", {"type": "warm"})  # a pooled connection
    proxy.cut()  # Redis (as the publisher sees it) resets every connection
    sub = await listener.subscribe(["conversation:1"])
    await publisher.publish("conversation:1", {"type": "x", "seq": 1})
    async with asyncio.timeout(WAIT):
        assert await anext(sub) == Delivery("conversation:1", {"type": "x", "seq": 1})
