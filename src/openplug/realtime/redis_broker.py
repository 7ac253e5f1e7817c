"""The broker over Redis pub/sub, for several server processes.

Each process holds **one** Redis connection for subscriptions, whatever
the number of sockets: a topic is SUBSCRIBEd when its first local
subscriber arrives and UNSUBSCRIBEd when its last one leaves, and what
arrives is fanned out locally into the same bounded per-subscriber queues
as ``InProcessBroker``. Publishing uses a small ordinary connection pool.
Events travel as JSON on channel ``<channel_prefix><topic>``.

Redis pub/sub is at-most-once: if the subscriber connection drops, events
published meanwhile are gone. So instead of silently reconnecting, every
subscription that held topics is ended with ``BrokerDisconnected`` and its
socket resumes from the database (re-authenticating, so a revocation
announced meanwhile is seen by that check); the next ``subscribe``/``add``
reconnects.

A connection can also die without a word (a NAT or load balancer forgets
it: no FIN, no RST), which a reader waiting on it would never notice. So
the subscriber PINGs Redis when it has heard nothing for
``health_check_interval`` and gives the connection up when nothing at all
came back within twice that; a SUBSCRIBE not confirmed within ``timeout``
gives it up too. TCP keepalive is on for every connection, and every call
has a deadline (``timeout``).

Publishing is retried once, on a fresh connection, when the pooled one
fails (the first publish after Redis restarted meets a connection Redis
has closed). That may deliver an event twice, which subscribers absorb:
events in a conversation carry a seq and are deduplicated by it, and a
revocation only asks for a re-check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import socket
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from openplug.realtime._fanout import FanOut, LocalSubscription
from openplug.realtime.broker import (
    DEFAULT_MAX_PENDING,
    BrokerClosed,
    BrokerDisconnected,
    BrokerStats,
    DeliveryWatcher,
    Event,
    PublishFailed,
    validate_topic,
)

log = logging.getLogger("openplug.realtime")

DEFAULT_CHANNEL_PREFIX = "openplug:rt:"


class RedisBroker:
    """A ``broker.Broker`` shared by every process using the same Redis and
    ``channel_prefix``."""

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = DEFAULT_CHANNEL_PREFIX,
        max_pending: int = DEFAULT_MAX_PENDING,
        timeout: float = 2.0,
        health_check_interval: float = 5.0,
    ) -> None:
        self._prefix = channel_prefix
        # Names the one subscriber connection in CLIENT LIST.
        self.subscriber_client_name = f"openplug-realtime-{os.getpid()}-{secrets.token_hex(3)}"
        self._max_pending = max_pending
        self._confirm_timeout = timeout
        self._health_interval = health_check_interval
        connection: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "socket_keepalive": True,
            "socket_keepalive_options": _keepalive_options(health_check_interval),
        }
        # One retry, on a fresh connection (the failed one is dropped first),
        # and an idle pooled connection is PINGed before it is used again.
        # The asyncio client needs the asyncio Retry: given redis.retry's,
        # it "retried" by calling the coroutine function and never awaited
        # a second attempt, so the first publish after a Redis restart was
        # lost on the connection Redis had closed.
        self._publisher = Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 1),
            health_check_interval=health_check_interval,
            **connection,
        )
        # No transparent retry on the subscriber connection: a reconnect
        # would hide the events lost in between (see the module docstring).
        self._listener = Redis.from_url(
            url,
            retry=Retry(NoBackoff(), 0),
            client_name=self.subscriber_client_name,
            **connection,
        )
        self._fanout = FanOut()
        # Serialises SUBSCRIBE / UNSUBSCRIBE so a topic released and taken
        # again at once ends up subscribed.
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._channels: set[str] = set()  # topics SUBSCRIBEd on self._pubsub
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closed = False
        # The subscriber connection was lost and none has worked since.
        self._degraded = False

    @property
    def channel_prefix(self) -> str:
        return self._prefix

    async def publish(self, topic: str, event: Event) -> None:
        payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False)
        try:
            await self._publisher.publish(self._prefix + validate_topic(topic), payload)
        except (RedisError, OSError) as e:
            raise PublishFailed(f"could not publish to Redis: {e}") from e

    async def subscribe(
        self, topics: Iterable[str] = (), *, max_pending: int | None = None
    ) -> LocalSubscription:
        if self._closed:
            raise RuntimeError("broker is closed")
        sub = self._fanout.track(LocalSubscription(self, max_pending or self._max_pending))
        try:
            await sub.add(topics)
        except BaseException:
            sub.close()
            raise
        return sub

    async def aclose(self) -> None:
        self._closed = True
        self._fanout.end_all(BrokerClosed())
        tasks = [*self._background, *([self._reader] if self._reader else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._drop_pubsub()
        await self._listener.aclose()
        await self._publisher.aclose()

    def subscriber_count(self, topic: str) -> int:
        """Local subscribers of ``topic`` in this process."""
        return self._fanout.subscriber_count(topic)

    def stats(self) -> BrokerStats:
        fanout = self._fanout
        return BrokerStats(fanout.live(), fanout.delivered, up=not self._degraded)

    def watch_deliveries(self, watcher: DeliveryWatcher) -> None:
        self._fanout.watchers.append(watcher)

    # SubscriptionHost

    async def attach(self, sub: LocalSubscription, topics: list[str]) -> None:
        self._fanout.attach(sub, topics)
        async with self._lock:
            pubsub = await self._connected_pubsub()
            missing = [t for t in topics if t not in self._channels]
            if not missing:
                return
            loop = asyncio.get_running_loop()
            waits = {t: loop.create_future() for t in missing}
            self._confirmations.update(waits)
            try:
                await pubsub.subscribe(*(self._prefix + t for t in missing))
                # Recorded once sent, so a later release unsubscribes even
                # if the confirmation never comes.
                self._channels.update(missing)
                # Only once Redis confirms is every later PUBLISH, from any
                # process, guaranteed to reach us: the resume algorithm needs it.
                async with asyncio.timeout(self._confirm_timeout):
                    await asyncio.gather(*waits.values())
            except (RedisError, OSError, TimeoutError) as e:
                # Unconfirmed in time: the connection cannot be trusted, and
                # nothing sent on it since may have arrived either.
                self._connection_lost(pubsub, e)
                raise BrokerDisconnected(f"Redis subscribe failed: {e!r}") from e
            finally:
                for t in missing:
                    self._confirmations.pop(t, None)

    def detach(self, sub: LocalSubscription, topics: list[str]) -> None:
        idle = self._fanout.detach(sub, topics)
        if idle and not self._closed:
            task = asyncio.get_running_loop().create_task(self._release(idle))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    # Internals

    async def _connected_pubsub(self) -> PubSub:
        if self._pubsub is not None:
            return self._pubsub
        pubsub = self._listener.pubsub()
        try:
            await pubsub.connect()  # type: ignore[no-untyped-call]
        except (RedisError, OSError) as e:
            await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            if not self._closed and not self._degraded:
                self._degraded = True
                log.warning("Redis unreachable; sockets told to retry: %r", e)
            raise BrokerDisconnected(f"Redis unreachable: {e}") from e
        self._pubsub = pubsub
        self._reader = asyncio.get_running_loop().create_task(self._read(pubsub))
        return pubsub

    async def _release(self, topics: list[str]) -> None:
        async with self._lock:
            pubsub = self._pubsub
            gone = [
                t for t in topics if t in self._channels and not self._fanout.has_subscribers(t)
            ]
            if pubsub is None or not gone:
                return
            self._channels.difference_update(gone)
            try:
                await pubsub.unsubscribe(*(self._prefix + t for t in gone))
            except (RedisError, OSError) as e:
                # The reader sees the broken connection too and ends everyone.
                log.warning("Redis unsubscribe failed: %r", e)

    async def _read(self, pubsub: PubSub) -> None:
        loop = asyncio.get_running_loop()
        interval = self._health_interval
        heard, pinged = loop.time(), False
        try:
            while True:
                message = await pubsub.get_message(timeout=interval / 2)
                now = loop.time()
                if message is not None:
                    heard, pinged = now, False
                    self._handle(message)
                elif now - heard >= 2 * interval:
                    raise ConnectionError(f"Redis did not answer for {now - heard:.1f}s")
                elif not pinged and now - heard >= interval:
                    # Answered by a "pong" message, which counts as heard.
                    await pubsub.ping()
                    pinged = True
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self._connection_lost(pubsub, e)

    def _handle(self, message: dict[str, Any]) -> None:
        channel = message.get("channel")
        if isinstance(channel, bytes):
            channel = channel.decode()
        if not isinstance(channel, str) or not channel.startswith(self._prefix):
            return
        topic = channel[len(self._prefix) :]
        kind = message.get("type")
        if kind == "message":
            try:
                event = json.loads(message["data"])
            except (ValueError, TypeError):
                log.warning("ignoring a non-JSON event on %s", channel)
                return
            if isinstance(event, dict):
                self._fanout.deliver(topic, event)
            else:
                log.warning("ignoring a non-object event on %s", channel)
        elif kind == "subscribe":
            if self._degraded:
                self._degraded = False
                log.warning("Redis subscriber connection back")
            waiter = self._confirmations.get(topic)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def _connection_lost(self, pubsub: PubSub, error: BaseException) -> None:
        if pubsub is not self._pubsub:
            return
        # Said once per outage, not once per socket trying meanwhile.
        if not self._closed and not self._degraded:
            self._degraded = True
            log.warning("Redis subscriber connection lost; sockets told to resume: %r", error)
        reader = self._reader
        self._pubsub = None
        self._reader = None
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        self._channels.clear()
        for waiter in self._confirmations.values():
            if not waiter.done():
                waiter.set_exception(BrokerDisconnected(repr(error)))
        self._fanout.end_all(BrokerDisconnected(repr(error)), only_with_topics=True)
        task = asyncio.get_running_loop().create_task(pubsub.aclose())  # type: ignore[no-untyped-call, unused-ignore]
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._reader = None
        self._channels.clear()
        if pubsub is not None:
            try:
                await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            except (RedisError, OSError) as e:
                log.debug("closing the Redis subscriber connection: %r", e)


def _keepalive_options(interval: float) -> dict[int, int]:
    """TCP keepalive probes from ``interval`` idle seconds on, where the
    platform names the options (Linux does)."""
    idle = max(1, round(interval))
    wanted = {"TCP_KEEPIDLE": idle, "TCP_KEEPINTVL": idle, "TCP_KEEPCNT": 3}
    return {getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)}
