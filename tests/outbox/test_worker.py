"""The outbox worker against real databases: a burst is one job, failures
come back with backoff, a job given up on stays failed, a dead process's
claim is taken over once its lease runs out, and a stopping worker gives
back what it will not finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from openplug.db import Database
from openplug.db.base import utcnow
from openplug.outbox import GiveUp, Handler, Job, OutboxWorker, Outcome, Retry, enqueue
from openplug.outbox.tables import outbox_jobs
from tests.backends import migrated_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path) as db:
        yield db


async def states(db: Database) -> list[tuple[str, int]]:
    async with db.read() as conn:
        rows = await conn.execute(select(outbox_jobs).order_by(outbox_jobs.c.id))
        return [(r.state, r.attempts) for r in rows]


async def test_a_burst_is_one_job_until_it_has_run(db: Database) -> None:
    async def add() -> bool:
        async with db.write() as conn:
            return await enqueue(conn, "k", {}, pending_key="same")

    made = await asyncio.gather(*(add() for _ in range(8)))
    assert made.count(True) == 1
    ran: list[Job] = []

    async def handler(job: Job) -> Outcome:
        ran.append(job)
        return "done"

    worker = OutboxWorker(db, {"k": handler})
    assert await worker.run_due() == 1
    assert await add(), "once done, the next burst gets a job of its own"
    assert [s for s, _ in await states(db)] == ["done", "pending"]


async def test_failures_are_retried_with_backoff_then_given_up(db: Database) -> None:
    calls = 0

    async def flaky(job: Job) -> Outcome:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise Retry("server down")
        return "done"

    async def refused(job: Job) -> Outcome:
        raise GiveUp("550 no such mailbox")

    async with db.write() as conn:
        await enqueue(conn, "flaky", {})
        await enqueue(conn, "refused", {})
    worker = OutboxWorker(db, {"flaky": flaky, "refused": refused}, retry_seconds=30)
    assert await worker.run_due() == 2
    assert await states(db) == [("pending", 1), ("failed", 1)]
    assert await worker.run_due() == 0, "not due again before its backoff"
    async with db.read() as conn:
        query = select(outbox_jobs.c.due_at).where(outbox_jobs.c.kind == "flaky")
        due = (await conn.execute(query)).scalar_one()
    assert timedelta(seconds=14) < due - utcnow() <= timedelta(seconds=30)
    for _ in range(2):
        async with db.write() as conn:
            await conn.execute(update(outbox_jobs).values(due_at=utcnow()))
        await worker.run_due()
    assert await states(db) == [("done", 3), ("failed", 1)]
    assert worker.backoff(30) == pytest.approx(worker.max_retry_seconds, rel=0.5)


async def test_a_dead_claim_is_taken_over_after_its_lease(db: Database) -> None:
    async with db.write() as conn:
        await enqueue(conn, "k", {})
    done: list[str] = []

    def handler_of(name: str) -> Handler:
        async def handler(job: Job) -> Outcome:
            done.append(name)
            return "done"

        return handler

    dead = OutboxWorker(db, {"k": handler_of("dead")})
    claimed = await dead._claim()  # then the process dies
    assert len(claimed) == 1
    other = OutboxWorker(db, {"k": handler_of("other")})
    assert await other.run_due() == 0, "the lease still holds"
    async with db.write() as conn:
        await conn.execute(update(outbox_jobs).values(claimed_until=utcnow()))
    assert await other.run_due() == 1
    # The dead process's late finish (had it woken up) changes nothing.
    await dead._run_one(claimed[0])
    assert done == ["other"]
    assert await states(db) == [("done", 2)]


async def test_a_stopping_worker_gives_back_the_jobs_it_will_not_finish(db: Database) -> None:
    async with db.write() as conn:
        await enqueue(conn, "slow", {})
        await enqueue(conn, "slow", {})
    started = asyncio.Event()

    async def slow(job: Job) -> Outcome:
        started.set()
        await asyncio.Event().wait()  # never finishes by itself
        return "done"

    worker = OutboxWorker(db, {"slow": slow}, poll_seconds=0.01)
    worker.start()
    await started.wait()
    await worker.aclose(grace_seconds=0.1)
    async with db.read() as conn:
        rows = (await conn.execute(select(outbox_jobs))).all()
    assert [(r.state, r.claimed_by, r.attempts) for r in rows] == [("pending", None, 0)] * 2
