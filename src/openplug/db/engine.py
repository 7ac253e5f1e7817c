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
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from openplug.db.point_reads import PointReader

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
        self._inline_writer: Engine | None = None
        self._waiting_writer: Engine | None = None
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
            # run_write's engines: the plain sqlite3 driver, one connection
            # used in the loop's thread that never waits for the lock, and
            # one on a writer thread that does.
            self._inline_writer = _sync_sqlite_engine(parsed, busy_timeout_ms=0)
            self._waiting_writer = _sync_sqlite_engine(parsed, busy_timeout_ms=30000)
            self._writer_thread = ThreadPoolExecutor(1, thread_name_prefix="openplug-writer")
            self._inline_lock = asyncio.Lock()
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

        For hot write paths. Through ``write()`` each statement on SQLite is
        several hops between the event loop and aiosqlite's thread. Here, on
        SQLite, the transaction runs right in the event loop's thread when
        the write lock is free: a short local transaction costs less than
        handing it to another thread, which then has to win the GIL back
        from the loop after every statement. When another connection holds
        the lock, ``BEGIN IMMEDIATE`` fails at once (``busy_timeout=0`` on
        this connection) and the work goes to the writer thread, which may
        wait for the lock without stalling the loop. On PostgreSQL it runs
        on an asyncpg connection via ``run_sync``.
        """
        waiting = self._waiting_writer
        if self._inline_writer is None or waiting is None or self._writer_thread is None:
            async with self.writer.begin() as conn:
                return await conn.run_sync(work)
        async with self._inline_lock:
            done, result = _try_transaction(self._inline_writer, work)
        if done:
            return result  # type: ignore[return-value]
        return await asyncio.get_running_loop().run_in_executor(
            self._writer_thread, _transaction, waiting, work
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        self.points.close()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if self._writer_thread is not None:
            self._writer_thread.shutdown(wait=True)
        for engine in (self._inline_writer, self._waiting_writer):
            if engine is not None:
                engine.dispose()


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


def _transaction(engine: Engine, work: Callable[[Connection], T]) -> T:
    with engine.begin() as conn:
        return work(conn)


def _try_transaction(engine: Engine, work: Callable[[Connection], T]) -> tuple[bool, T | None]:
    """(True, result), or (False, None) when the write lock is taken.

    Only ``BEGIN IMMEDIATE`` can meet a busy lock: once it succeeds this
    connection holds the write lock until it commits."""
    with engine.connect() as conn:
        try:
            transaction = conn.begin()
        except OperationalError as e:
            if "locked" in str(e.orig) or "busy" in str(e.orig):
                return False, None
            raise
        with transaction:
            return True, work(conn)


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
