"""Counting events per key over a sliding window, to refuse the ones over
a limit with 429 (``TooManyRequests`` and its ``Retry-After``).

Kept in process memory: with several server processes each one counts on
its own, so the effective limit is the limit times the processes, which
still bounds abuse, and nothing is stored for keys nobody used. Memory is
bounded: beyond ``max_keys`` the oldest key is forgotten.
"""

from __future__ import annotations

import math
import time
from collections import deque

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

    def record(self, key: str) -> None:
        if self.limit <= 0:
            return
        events = self._recent(key)
        events.append(time.monotonic())
        self._events[key] = events
        if len(self._events) > self.max_keys:
            del self._events[next(iter(self._events))]

    def clear(self, key: str) -> None:
        self._events.pop(key, None)

    def _recent(self, key: str) -> deque[float]:
        events = self._events.get(key, deque())
        horizon = time.monotonic() - self.window
        while events and events[0] <= horizon:
            events.popleft()
        return events
