"""Counting events per key, to refuse the ones over a limit with 429
(``TooManyRequests`` and its ``Retry-After``): over a sliding window
(``SlidingWindowLimit``), or at the same time (``ConcurrentLimit``).

``SlidingWindowLimit`` is kept in process memory (the embedded default);
memory is bounded: beyond ``max_keys`` the oldest key is forgotten.
``Limits.window`` gives the rules the server applies: in process memory
without Redis, and shared by every process through Redis when
``OPENPLUG_REDIS_URL`` is set, so that N processes allow a client what one
would (see ``Limit`` for what happens while Redis is unreachable).
``ConcurrentLimit`` is always per process: it guards this process's own
queue (argon2's threads).
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from openplug.errors import TooManyRequests

log = logging.getLogger(__name__)


class SlidingWindowLimit:
    def __init__(self, limit: int, window_seconds: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window_seconds
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}

    def check(self, key: str, message: str) -> None:
        """Raise 429 while ``key`` has ``limit`` events in the window."""
        if self.limit <= 0:
            return
        events = self._recent(key)
        if len(events) >= self.limit:
            retry_after = math.ceil(events[0] + self.window - time.monotonic())
            raise TooManyRequests(message, max(retry_after, 1))

    def record(self, key: str) -> float:
        """Count one event now; returns its stamp (for ``forget``)."""
        now = time.monotonic()
        if self.limit <= 0:
            return now
        events = self._recent(key)
        events.append(now)
        self._events[key] = events
        if len(self._events) > self.max_keys:
            del self._events[next(iter(self._events))]
        return now

    def admit(self, key: str, message: str) -> float:
        """``check`` then ``record`` at once, for work counted before it
        starts: requests that arrive together cannot all pass the check
        while the first of them is still running. Returns the stamp, so
        an outcome that should not count can be ``forget``-ten."""
        self.check(key, message)
        return self.record(key)

    def forget(self, key: str, stamp: float) -> None:
        """Uncount the event ``record`` stamped (e.g. an attempt counted in
        advance that turned out to succeed)."""
        events = self._events.get(key)
        if events is not None and stamp in events:
            events.remove(stamp)

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        events = self._events.get(key, deque())
        horizon = time.monotonic() - self.window
        while events and events[0] <= horizon:
            events.popleft()
        return events


class ConcurrentLimit:
    """At most ``limit`` requests per key in progress at once; one more is
    refused at once, with ``Retry-After: 1``.

    For work that queues for a scarce resource (argon2's threads): a sliding
    window bounds how much one key may ask for per hour, this bounds how
    much of the queue it holds at any moment, so others are not served
    behind all of its requests. Memory is one entry per key in progress.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_progress: dict[str, int] = {}

    @contextmanager
    def hold(self, key: str, message: str) -> Iterator[None]:
        held = self._in_progress.get(key, 0)
        if 0 < self.limit <= held:
            raise TooManyRequests(message, 1)
        self._in_progress[key] = held + 1
        try:
            yield
        finally:
            remaining = self._in_progress[key] - 1
            if remaining:
                self._in_progress[key] = remaining
            else:
                del self._in_progress[key]


# --- shared by every process, through Redis ----------------------------------------------

# A sliding window of one sorted set per key (members: event ids, scores:
# Redis's own clock in milliseconds, so processes with skewed clocks count
# alike), in one script so that check-and-record is atomic across
# processes. KEYS[1]: the set. ARGV: limit, window ms, the new event's id
# ("" to only check). Returns {admitted (0/1), retry after ms}.
_WINDOW_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
if ARGV[3] ~= '' then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
end
return {1, 0}
"""

# What ``admit`` and ``record`` hand back, for ``forget``: the in-process
# window's stamp, or the event's id in Redis.
Stamp = float | str

_REDIS_DOWN: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)


class Limits:
    """Opens a ``Limit`` per named rule: kept in this process, or shared
    through Redis when there is one (``OPENPLUG_REDIS_URL``)."""

    def __init__(
        self,
        redis_url: str | None,
        *,
        timeout: float = 2.0,
        retry_seconds: float = 5.0,
        key_prefix: str = "openplug:",
    ) -> None:
        self._redis: Redis | None = None
        # OPENPLUG_REDIS_PREFIX: one deployment's counters, not another's.
        self.key_prefix = key_prefix
        # After a failure, Redis is left alone this long: requests during
        # an outage do not each wait for its deadlines.
        self._retry_seconds = retry_seconds
        self._down_until = 0.0
        if redis_url is not None:
            self._redis = Redis.from_url(
                redis_url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                socket_keepalive=True,
                health_check_interval=max(timeout, 1.0) * 2,
                retry=Retry(NoBackoff(), 1),
            )
        self._script: AsyncScript | None = (
            self._redis.register_script(_WINDOW_SCRIPT) if self._redis is not None else None
        )
        # Whether the last Redis call failed: one warning per outage.
        self.redis_down = False

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def window(self, name: str, limit: int, window_seconds: float) -> Limit:
        return Limit(self, name, SlidingWindowLimit(limit, window_seconds))

    async def ping(self) -> None:
        """Raises unless Redis answers (for ``/ready``)."""
        if self._redis is not None:
            await self._redis.ping()

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

    async def _run(self, key: str, limit: int, window_ms: int, event: str) -> tuple[int, int]:
        assert self._script is not None
        admitted, retry_ms = await self._script(keys=[key], args=[limit, window_ms, event])
        return int(admitted), int(retry_ms)

    def _usable(self) -> Redis | None:
        """The Redis client, unless there is none or it failed just now."""
        if self._redis is None or time.monotonic() < self._down_until:
            return None
        return self._redis

    def _failed(self, name: str, error: BaseException) -> None:
        self._down_until = time.monotonic() + self._retry_seconds
        if not self.redis_down:
            log.warning(
                "rate limits: Redis unreachable (%r); counting in this process until it is back",
                error,
            )
        self.redis_down = True

    def _answered(self) -> None:
        if self.redis_down:
            log.warning("rate limits: Redis reachable again; counting shared")
        self.redis_down = False


class Limit:
    """One rule's sliding window, the same calls as ``SlidingWindowLimit``
    but awaited: shared by every process when Redis is configured.

    When Redis does not answer (within its deadline) the rule counts in
    this process instead, as if there were no Redis: each process then
    allows up to the limit, so the limit is multiplied by the number of
    processes for as long as the outage lasts. That is the stated
    direction: failing closed would refuse every new visitor and every
    sign-in whenever Redis blips, which is an outage of its own; failing
    wide open would lift the limits entirely. Counts made in the process
    during the outage stay in it (they still bound that process)."""

    def __init__(self, limits: Limits, name: str, local: SlidingWindowLimit) -> None:
        self._limits = limits
        self._prefix = f"{limits.key_prefix}limit:{name}:"
        self.name = name
        self.local = local

    @property
    def limit(self) -> int:
        return self.local.limit

    async def check(self, key: str, message: str) -> None:
        await self._admit(key, message, record=False)

    async def record(self, key: str) -> Stamp:
        if self.limit <= 0:
            return 0.0
        if self._limits._usable() is None:
            return self.local.record(key)
        event = secrets.token_hex(8)
        try:
            # Counted whatever the count (by Redis's clock, as ``admit``).
            await self._limits._run(self._prefix + key, 2**31, self._window_ms, event)
        except _REDIS_DOWN as e:
            self._limits._failed(self.name, e)
            return self.local.record(key)
        self._limits._answered()
        return event

    async def admit(self, key: str, message: str) -> Stamp:
        """``check`` then ``record``, atomically across processes."""
        return await self._admit(key, message, record=True)

    async def forget(self, key: str, stamp: Stamp) -> None:
        if isinstance(stamp, float):
            self.local.forget(key, stamp)
            return
        if (redis := self._limits._usable()) is not None:
            await self._quietly(redis.zrem(self._prefix + key, stamp))

    async def clear(self, key: str) -> None:
        self.local.clear(key)
        if (redis := self._limits._usable()) is not None:
            await self._quietly(redis.delete(self._prefix + key))

    @property
    def _window_ms(self) -> int:
        return max(1, int(self.local.window * 1000))

    async def _admit(self, key: str, message: str, *, record: bool) -> Stamp:
        if self.limit <= 0:
            return 0.0
        if self._limits._usable() is None:
            if record:
                return self.local.admit(key, message)
            self.local.check(key, message)
            return 0.0
        event = secrets.token_hex(8) if record else ""
        try:
            admitted, retry_ms = await self._limits._run(
                self._prefix + key, self.limit, self._window_ms, event
            )
        except _REDIS_DOWN as e:
            self._limits._failed(self.name, e)
            if record:
                return self.local.admit(key, message)
            self.local.check(key, message)
            return 0.0
        self._limits._answered()
        if not admitted:
            raise TooManyRequests(message, max(math.ceil(retry_ms / 1000), 1))
        return event

    async def _quietly(self, call: Awaitable[Any]) -> None:
        try:
            await call
        except _REDIS_DOWN as e:
            self._limits._failed(self.name, e)
        else:
            self._limits._answered()
