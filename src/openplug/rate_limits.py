"""Counting events per key, to refuse the ones over a limit with 429
(``TooManyRequests`` and its ``Retry-After``): over a sliding window
(``SlidingWindowLimit``), or at the same time (``ConcurrentLimit``).

Kept in process memory: with several server processes each one counts on
its own, so the effective limit is the limit times the processes, which
still bounds abuse, and nothing is stored for keys nobody used. Memory is
bounded: beyond ``max_keys`` the oldest key is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from openplug.errors import TooManyRequests


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
