"""The loop that runs due outbox jobs, one per server process.

Each pass claims a batch of due jobs (state pending, due, no live lease)
by writing this process's name and a lease into them, runs each job's
handler, and records the outcome only if the lease is still ours. On
PostgreSQL the claim's ``SELECT ... FOR UPDATE SKIP LOCKED`` lets several
processes claim at once without waiting on or taking each other's jobs;
on SQLite the write lock serialises the claims. A handler that raises is
retried with exponential backoff; one that raises ``GiveUp`` (or runs out
of attempts) fails for good.

Between passes the loop sleeps until the next job is due, at most
``poll_seconds`` (jobs enqueued by another process are found by polling)
or until ``wake()`` (jobs this process enqueued).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, func, or_, select, update

from openplug.db import Database
from openplug.db.base import utcnow
from openplug.outbox.queue import Job
from openplug.outbox.tables import outbox_jobs

log = logging.getLogger("openplug.outbox")

Outcome = Literal["done", "dropped"]
Handler = Callable[[Job], Awaitable[Outcome]]
MAX_ERROR_CHARS = 500


class Retry(Exception):
    """A failure that may pass (a server down, a timeout): run again later."""


class GiveUp(Exception):
    """A failure that will not pass (a recipient refused for good)."""


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        *,
        poll_seconds: float = 2.0,
        retry_seconds: float = 5.0,
        max_retry_seconds: float = 3600.0,
        max_attempts: int = 20,
        lease_seconds: float = 120.0,
        batch: int = 20,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max_retry_seconds
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_seconds)
        self.batch = batch
        self.name = f"{socket.gethostname()[:30]}:{os.getpid()}:{secrets.token_hex(4)}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # (every how many seconds, what, when next, by the monotonic clock)
        self._periodic: list[list[Any]] = []

    def every(self, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        """Run ``work`` in this worker's loop at start and then every
        ``seconds`` (housekeeping such as the artifacts' orphan sweep). Each
        process runs its own, so ``work`` must be safe to run in several
        at once; what it finds to do it enqueues as jobs."""
        self._periodic.append([seconds, work, time.monotonic()])

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="outbox")

    def wake(self) -> None:
        """Look for due jobs now (a job was just enqueued here)."""
        self._wake.set()

    async def aclose(self, grace_seconds: float = 10.0) -> None:
        """Let the job in hand finish (a mail half sent is worse than a
        shutdown that waits a little), then stop."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        # On timeout wait_for cancels the loop, which releases its claims.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._task, grace_seconds)
        self._task = None

    async def _run_periodic(self) -> float:
        """Run what is due; the seconds until the next one is."""
        now = time.monotonic()
        for entry in self._periodic:
            seconds, work, next_at = entry
            if next_at <= now:
                entry[2] = now + seconds
                try:
                    await work()
                except Exception:
                    log.exception("outbox periodic work failed; it runs again later")
        return min((e[2] for e in self._periodic), default=now + 3600) - time.monotonic()

    async def _run(self) -> None:
        while not self._stopping:
            try:
                until_periodic = await self._run_periodic()
                timeout = min(await self._seconds_to_next_due(), max(until_periodic, 0.0))
                if timeout <= 0:
                    if await self.run_due():
                        continue
                    # Due, but another process claimed it first.
                    timeout = self.poll_seconds
            except Exception:
                log.exception("outbox pass failed; trying again")
                timeout = self.poll_seconds
            if self._stopping:
                return
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _seconds_to_next_due(self) -> float:
        """Until the next job can be claimed (due, and any lease on it run
        out), at most ``poll_seconds``: a read, so polling costs no write."""
        c = outbox_jobs.c
        ready_at = case(
            (and_(c.claimed_until.is_not(None), c.claimed_until > c.due_at), c.claimed_until),
            else_=c.due_at,
        )
        async with self.db.read() as conn:
            next_at = (
                await conn.execute(select(func.min(ready_at)).where(c.state == "pending"))
            ).scalar()
        if next_at is None:
            return self.poll_seconds
        return float(min(self.poll_seconds, (next_at - utcnow()).total_seconds()))

    async def run_due(self) -> int:
        """Claim and run one batch of due jobs; how many ran."""
        jobs = await self._claim()
        for i, job in enumerate(jobs):
            try:
                await self._run_one(job)
            except asyncio.CancelledError:
                await asyncio.shield(self._release(jobs[i:]))
                raise
        return len(jobs)

    async def _claim(self) -> list[Job]:
        now = utcnow()
        c = outbox_jobs.c
        due = (
            select(c.id)
            .where(
                c.state == "pending",
                c.due_at <= now,
                or_(c.claimed_until.is_(None), c.claimed_until < now),
            )
            .order_by(c.due_at, c.id)
            .limit(self.batch)
            .with_for_update(skip_locked=True)
        )
        async with self.db.write() as conn:
            rows = (
                await conn.execute(
                    update(outbox_jobs)
                    .where(c.id.in_(due.scalar_subquery()))
                    .values(
                        claimed_by=self.name,
                        claimed_until=now + self.lease,
                        attempts=c.attempts + 1,
                    )
                    .returning(c.id, c.kind, c.payload, c.attempts, c.due_at)
                )
            ).all()
        rows = sorted(rows, key=lambda r: (r.due_at, r.id))
        return [Job(int(r.id), str(r.kind), dict(r.payload), int(r.attempts)) for r in rows]

    async def _renew(self, job: Job) -> bool:
        """Extend this job's lease before running it; False if the lease ran
        out while earlier jobs of the batch ran and another process has
        taken the job over (it must not run twice)."""
        async with self.db.write() as conn:
            result = await conn.execute(
                update(outbox_jobs)
                .where(self._ours(job), outbox_jobs.c.state == "pending")
                .values(claimed_until=utcnow() + self.lease)
            )
        return bool(result.rowcount)

    async def _run_one(self, job: Job) -> None:
        if not await self._renew(job):
            return
        handler = self.handlers.get(job.kind)
        if handler is None:
            await self._finish(job, "failed", f"no handler for {job.kind!r}")
            return
        try:
            outcome: str = await handler(job)
        except GiveUp as e:
            log.warning("outbox job %s (%s) failed for good: %s", job.key, job.kind, e)
            await self._finish(job, "failed", str(e))
            return
        except Exception as e:
            error = str(e) or type(e).__name__
            if not isinstance(e, Retry):
                log.exception("outbox job %s (%s) raised", job.key, job.kind)
            if job.attempts >= self.max_attempts:
                log.warning("outbox job %s (%s) out of attempts: %s", job.key, job.kind, error)
                await self._finish(job, "failed", error)
            else:
                await self._retry_later(job, error)
            return
        await self._finish(job, outcome, None)

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: doubling from
        ``retry_seconds`` up to ``max_retry_seconds``, with jitter so the
        jobs of one outage do not all come back in the same second."""
        ceiling = min(self.max_retry_seconds, self.retry_seconds * 2.0 ** (attempts - 1))
        return float(ceiling) * (0.5 + random.random() / 2)  # noqa: S311 (not a secret)

    def _ours(self, job: Job) -> Any:
        return and_(outbox_jobs.c.id == job.key, outbox_jobs.c.claimed_by == self.name)

    async def _finish(self, job: Job, state: str, error: str | None) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(outbox_jobs)
                .where(self._ours(job))
                .values(
                    state=state,
                    pending_key=None,
                    claimed_by=None,
                    claimed_until=None,
                    finished_at=utcnow(),
                    last_error=_clip(error),
                )
            )

    async def _retry_later(self, job: Job, error: str) -> None:
        due = utcnow() + timedelta(seconds=self.backoff(job.attempts))
        await self._reschedule(job, due, error)

    async def _reschedule(self, job: Job, due: datetime, error: str | None) -> None:
        async with self.db.write() as conn:
            await conn.execute(
                update(outbox_jobs)
                .where(self._ours(job))
                .values(due_at=due, claimed_by=None, claimed_until=None, last_error=_clip(error))
            )

    async def _release(self, jobs: list[Job]) -> None:
        """Give back claims this process will not finish (it is stopping):
        another process, or this one once restarted, takes them at once
        instead of after the lease."""
        c = outbox_jobs.c
        async with self.db.write() as conn:
            await conn.execute(
                update(outbox_jobs)
                .where(c.id.in_([j.key for j in jobs]), c.claimed_by == self.name)
                .values(claimed_by=None, claimed_until=None, attempts=c.attempts - 1)
            )


def _clip(error: str | None) -> str | None:
    return None if error is None else error[:MAX_ERROR_CHARS]
