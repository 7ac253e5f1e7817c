"""Connections: readers and a writer, so that SQLite and PostgreSQL both
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

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from openplug.db.point_reads import PointReader
from openplug.db.sqlite_writes import SqliteWriteBatcher
from openplug.private_files import private_sqlite_file

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
T = TypeVar("T")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._batcher: SqliteWriteBatcher | None = None
        if self.is_sqlite:
            if (path := _sqlite_file(parsed)) is not None:
                private_sqlite_file(path)
            self.writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            _configure_sqlite(self.writer.sync_engine, begin="BEGIN IMMEDIATE")
            # Readers run each SELECT in autocommit: no BEGIN/ROLLBACK round
            # trips to the driver thread. Nothing relies on several reads
            # sharing a snapshot; writes re-read inside their transaction.
            self.reader = create_async_engine(
                url, pool_size=8, max_overflow=0, pool_reset_on_return=None
            )
            _configure_sqlite(self.reader.sync_engine, begin=None)
            # run_write's engines: the plain sqlite3 driver, one connection
            # used in the loop's thread that never waits for the lock, and
            # one on a writer thread that does.
            self._batcher = SqliteWriteBatcher(
                inline=_sync_sqlite_engine(parsed, busy_timeout_ms=0),
                waiting=_sync_sqlite_engine(parsed, busy_timeout_ms=30000),
            )
        else:
            self.writer = create_async_engine(url, pool_size=20, max_overflow=20)
            self.reader = self.writer
        self.points = PointReader(self)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed on success, rolled back on any error."""
        async with self.writer.begin() as conn:
            yield conn

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run synchronous ``work`` in a write transaction, for hot write
        paths: on SQLite with group commit (see ``sqlite_writes``), on
        PostgreSQL in its own transaction on an asyncpg connection."""
        if self._batcher is None:
            async with self.writer.begin() as conn:
                return await conn.run_sync(work)
        result: T = await self._batcher.run(work)
        return result

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        self.points.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self._batcher is not None:
            self._batcher.close()


def _sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL; None for an in-memory database and
    for a ``file:`` URI, whose options SQLite reads itself."""
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _sync_sqlite_engine(url: URL, *, busy_timeout_ms: int) -> Engine:
    engine = create_engine(
        url.set(drivername="sqlite"),
        pool_size=1,
        max_overflow=0,
        pool_timeout=60,
        # The waiting writer is used on its thread and closed from the loop's.
        connect_args={"check_same_thread": False},
    )
    _configure_sqlite(engine, begin="BEGIN IMMEDIATE", busy_timeout_ms=busy_timeout_ms)
    return engine


def _configure_sqlite(engine: Engine, *, begin: str | None, busy_timeout_ms: int = 30000) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that the
        # "begin" hook below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)
