"""Looking into a live server's outbox from a test: its jobs, and making a
waiting job due now (so a test of a two-minute delay need not wait two
minutes, and a burst is a burst however slow the machine is)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select, update

from openplug.db import Database
from openplug.db.base import utcnow
from openplug.outbox.tables import outbox_jobs
from tests.live_server import LiveServer


def _run(server: LiveServer, work: Any) -> Any:
    async def go() -> Any:
        db = Database(server.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def jobs(server: LiveServer, kind: str | None = None) -> list[Any]:
    async def read(db: Database) -> list[Any]:
        query = select(outbox_jobs).order_by(outbox_jobs.c.id)
        if kind is not None:
            query = query.where(outbox_jobs.c.kind == kind)
        async with db.read() as conn:
            return list((await conn.execute(query)).all())

    result: list[Any] = _run(server, read)
    return result


def make_due(server: LiveServer) -> None:
    async def write(db: Database) -> None:
        async with db.write() as conn:
            await conn.execute(
                update(outbox_jobs).where(outbox_jobs.c.state == "pending").values(due_at=utcnow())
            )

    # The worker finds it at its next poll (the tests' servers poll often).
    _run(server, write)


def wait_for_retries(server: LiveServer, kind: str, attempts: int, timeout: float = 20.0) -> None:
    """Until a pending job of ``kind`` has failed ``attempts`` times."""
    deadline = time.monotonic() + timeout
    while not any(j.state == "pending" and j.attempts >= attempts for j in jobs(server, kind)):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} job retried {attempts} times")
        time.sleep(0.05)


def wait_idle(server: LiveServer, timeout: float = 20.0) -> list[Any]:
    """Until no job is pending (all done, dropped or failed); the jobs."""
    deadline = time.monotonic() + timeout
    while True:
        current = jobs(server)
        if all(j.state != "pending" for j in current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"outbox still busy: {[(j.kind, j.state) for j in current]}")
        time.sleep(0.05)
