"""Slows password guessing on the inbox sign-in: after a few failures for
one email, that email is refused for a while, whatever the password.

Kept in process memory: with several server processes an attacker gets
the allowance once per process, which still caps guesses at a handful per
window per process, and nothing is stored for an address nobody tried.
"""

from __future__ import annotations

import math
import time
from collections import deque

from openplug.errors import TooManyRequests

MAX_FAILURES = 5
WINDOW_SECONDS = 15 * 60
# Bounded memory: the oldest tracked email is forgotten beyond this.
MAX_TRACKED = 10_000


class SignInThrottle:
    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}

    def check(self, email: str) -> None:
        """Raise 429 while ``email`` has used up its failures."""
        failures = self._recent(email.strip().lower())
        if len(failures) >= MAX_FAILURES:
            retry_after = math.ceil(failures[0] + WINDOW_SECONDS - time.monotonic())
            raise TooManyRequests(
                "too many failed sign-ins for this email; try again later", max(retry_after, 1)
            )

    def failed(self, email: str) -> None:
        key = email.strip().lower()
        failures = self._recent(key)
        failures.append(time.monotonic())
        self._failures[key] = failures
        if len(self._failures) > MAX_TRACKED:
            del self._failures[next(iter(self._failures))]

    def succeeded(self, email: str) -> None:
        self._failures.pop(email.strip().lower(), None)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures.get(key, deque())
        horizon = time.monotonic() - WINDOW_SECONDS
        while failures and failures[0] <= horizon:
            failures.popleft()
        return failures
