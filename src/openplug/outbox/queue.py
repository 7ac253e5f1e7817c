"""Putting work in the outbox, inside the caller's transaction."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.db.base import utcnow
from openplug.outbox.tables import outbox_jobs


@dataclass(frozen=True)
class Job:
    key: int
    kind: str
    payload: dict[str, Any]
    # Counting this run: a job whose process died mid-run has used one up.
    attempts: int


async def enqueue(
    conn: AsyncConnection,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    pending_key: str | None = None,
) -> bool:
    """Add a job, in the transaction of the change that causes it: it
    exists exactly when the change commits. With ``pending_key``, nothing
    is added while a job with that key is still waiting (returns False),
    which is how a burst of changes becomes one job."""
    result = await conn.execute(*_insert(conn.dialect.name, kind, payload, due_at, pending_key))
    return bool(result.rowcount)


def enqueue_sync(
    conn: Connection,
    kind: str,
    payload: dict[str, Any],
    *,
    due_at: datetime | None = None,
    pending_key: str | None = None,
) -> bool:
    """``enqueue`` for a synchronous transaction (a hook in identify's
    write phase, see ``crm.changes``)."""
    result = conn.execute(*_insert(conn.dialect.name, kind, payload, due_at, pending_key))
    return bool(result.rowcount)


def _insert(
    dialect: str,
    kind: str,
    payload: dict[str, Any],
    due_at: datetime | None,
    pending_key: str | None,
) -> tuple[Any, dict[str, Any]]:
    now = utcnow()
    values = {
        "kind": kind, "pending_key": pending_key, "payload": payload, "state": "pending",
        "due_at": due_at or now, "attempts": 0, "created_at": now,
    }  # fmt: skip
    return _insert_statement(dialect, pending_key is not None), values


@functools.cache
def _insert_statement(dialect: str, deduplicated: bool) -> Any:
    """Built once: a message's post enqueues a job, and building the
    statement cost more than running it."""
    stmt = (pg_insert if dialect == "postgresql" else sqlite_insert)(outbox_jobs)
    if deduplicated:
        return stmt.on_conflict_do_nothing(index_elements=["pending_key"])
    return stmt
