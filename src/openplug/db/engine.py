"""Connections: a reader and a writer, so that SQLite and PostgreSQL both
behave under concurrent writes.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` and the
writer pool holds one connection: a deferred transaction that reads, then
writes, fails with SQLITE_BUSY (no waiting) when another writer committed in
between, which is exactly what concurrent identifies of one new user do.
Readers use their own pool and WAL so they never wait for the writer. On
PostgreSQL both are the same engine; unique constraints and ``ON CONFLICT``
do the serialising.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from openplug.db.point_reads import PointReader

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, begin="BEGIN IMMEDIATE", pool_size=1)
            # Readers run each SELECT in autocommit: no BEGIN/ROLLBACK round
            # trips to the driver thread on the hot path. Nothing relies on
            # several reads sharing a snapshot; writes re-read inside their
            # own transaction.
            self.reader = _sqlite_engine(url, begin=None, pool_size=8)
        else:
            self.writer = create_async_engine(url, pool_size=20, max_overflow=20)
            self.reader = self.writer
        self.points = PointReader(self)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed on success, rolled back on any error."""
        async with self.writer.begin() as conn:
            yield conn

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        self.points.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()


def _sqlite_engine(url: str, *, begin: str | None, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        pool_reset_on_return="rollback" if begin else None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that the
        # "begin" hook below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    if begin is not None:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

    return engine
