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

import asyncio
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from openplug.db.point_reads import PointReader

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA foreign_keys=ON",
)
T = TypeVar("T")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._sync_writer: Engine | None = None
        self._writer_thread: ThreadPoolExecutor | None = None
        if self.is_sqlite:
            self.writer = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
            _configure_sqlite(self.writer.sync_engine, begin="BEGIN IMMEDIATE")
            # Readers run each SELECT in autocommit: no BEGIN/ROLLBACK round
            # trips to the driver thread. Nothing relies on several reads
            # sharing a snapshot; writes re-read inside their transaction.
            self.reader = create_async_engine(
                url, pool_size=8, max_overflow=0, pool_reset_on_return=None
            )
            _configure_sqlite(self.reader.sync_engine, begin=None)
            # run_write's engine: the plain sqlite3 driver, on one thread.
            self._sync_writer = create_engine(
                parsed.set(drivername="sqlite"),
                pool_size=1,
                max_overflow=0,
                pool_timeout=60,
                # Used only on the writer thread; closed from the loop's.
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(self._sync_writer, begin="BEGIN IMMEDIATE")
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="openplug-writer")
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
        """Run synchronous ``work`` in one write transaction.

        For hot write paths. Through ``write()`` every statement on SQLite is
        several hops between the event loop and aiosqlite's thread; here the
        whole transaction is one hop to a dedicated writer thread. On
        PostgreSQL it runs on an asyncpg connection via ``run_sync``.
        """
        if self._sync_writer is None:
            async with self.writer.begin() as conn:
                return await conn.run_sync(work)
        engine = self._sync_writer

        def transaction() -> T:
            with engine.begin() as conn:
                return work(conn)

        return await asyncio.get_running_loop().run_in_executor(self._writer_thread, transaction)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        self.points.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self._sync_writer is not None and self._writer_thread is not None:
            self._writer_thread.shutdown(wait=True)
            self._sync_writer.dispose()


def _configure_sqlite(engine: Engine, *, begin: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that the
        # "begin" hook below decides how each transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    if begin is not None:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)
