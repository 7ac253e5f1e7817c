"""Test doubles for the socket session: a scripted client and a clock that
moves only when told."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection, Hashable, Sequence
from typing import Any

from openplug.realtime import (
    Credential,
    CredentialEnded,
    Event,
    FrameRefused,
    Recheck,
    ReplayTooLarge,
)

Frame = dict[str, Any]
WAIT = 5.0  # a safety net against hangs, never a synchronisation


class FakeTransport:
    def __init__(self) -> None:
        self.incoming: asyncio.Queue[str | None] = asyncio.Queue()
        self.sent: list[Frame] = []
        self.closed: tuple[int, str] | None = None
        # Cleared: the client stops reading and sends wait, as over a full TCP window.
        self.reading = asyncio.Event()
        self.reading.set()
        self._changed = asyncio.Condition()

    # SocketTransport
    async def receive_text(self) -> str | None:
        return await self.incoming.get()

    async def send_text(self, text: str) -> None:
        await self.reading.wait()
        async with self._changed:
            self.sent.append(json.loads(text))
            self._changed.notify_all()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    # The client's side
    def send(self, frame: Frame | str) -> None:
        self.incoming.put_nowait(frame if isinstance(frame, str) else json.dumps(frame))

    def disconnect(self) -> None:
        self.incoming.put_nowait(None)

    async def wait_for(self, predicate: Callable[[list[Frame]], bool]) -> list[Frame]:
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(lambda: predicate(self.sent))
        return self.sent

    async def wait_for_frame(self, **match: Any) -> Frame:
        def found(frames: list[Frame]) -> bool:
            return any(all(f.get(k) == v for k, v in match.items()) for f in frames)

        frames = await self.wait_for(found)
        return next(f for f in frames if all(f.get(k) == v for k, v in match.items()))

    def events(self, topic: str | None = None) -> list[Event]:
        return [
            f["event"]
            for f in self.sent
            if f["type"] == "event" and (topic is None or f["topic"] == topic)
        ]


async def until(predicate: Callable[[], bool]) -> None:
    """Let other tasks run until ``predicate`` holds (a condition, not a delay)."""
    async with asyncio.timeout(WAIT):
        while not predicate():  # noqa: ASYNC110 (no event to await for this state)
            await asyncio.sleep(0)


class FakeClock:
    def __init__(self) -> None:
        self._now = 0.0
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._changed = asyncio.Condition()

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        async with self._changed:
            self._sleepers.append((self._now + seconds, waiter))
            self._changed.notify_all()
        await waiter

    async def advance(self, seconds: float) -> None:
        """Move time once someone sleeps past now, and wake whoever is due."""
        async with asyncio.timeout(WAIT), self._changed:
            await self._changed.wait_for(lambda: any(d > self._now for d, _ in self._sleepers))
        self._now += seconds
        due = [(d, w) for d, w in self._sleepers if d <= self._now]
        self._sleepers = [s for s in self._sleepers if s not in due]
        for _, waiter in due:
            waiter.set_result(None)


class FakePolicy:
    """Visitors may hear ``allowed`` topics; ``history`` is the database."""

    def __init__(self, allowed: Sequence[str], history: dict[str, list[Event]] | None = None):
        self.allowed = set(allowed)
        self.history = history or {}
        self.before_read: Callable[[], Any] | None = None
        self.after_read: Callable[[], Any] | None = None
        self.too_large = False
        self.credential: Credential | None = None
        self.revoked: str | None = None  # why the credential's check fails, once set
        self.checks = 0

    def watch_credential(
        self, topic: str, expires_at: float | None = None, recheck: Recheck[Any] | None = None
    ) -> None:
        """Give the socket a credential whose revocations come on ``topic``."""

        async def check() -> str | None:
            self.checks += 1
            return self.revoked

        self.credential = Credential((topic,), expires_at, check, recheck)

    async def authorize(self, topic: str) -> bool:
        return topic in self.allowed

    async def replay(self, topic: str, after_seq: int) -> Sequence[Event]:
        if self.too_large:
            raise ReplayTooLarge("more than 500 events missed")
        if self.before_read:
            await self.before_read()
        rows = [e for e in self.history.get(topic, []) if e["seq"] > after_seq]
        if self.after_read:
            await self.after_read()
        return rows

    async def client_frame(self, frame: dict[str, Any], topics: frozenset[str]) -> None:
        raise FrameRefused("unknown_type", f"unknown {frame['type']!r}")


class FakeBatch:
    """A ``CredentialBatch``: ``verdicts`` says which refs ended; every call
    is recorded."""

    def __init__(self) -> None:
        self.verdicts: dict[Hashable, CredentialEnded] = {}
        self.calls: list[set[Hashable]] = []

    async def ended(self, refs: Collection[Hashable]) -> dict[Hashable, CredentialEnded]:
        self.calls.append(set(refs))
        return {ref: why for ref, why in self.verdicts.items() if ref in refs}
