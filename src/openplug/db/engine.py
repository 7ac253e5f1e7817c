"""Connections: readers and a writer, so that SQLite and PostgreSQL both
behave under concurrent writes.

On SQLite every write transaction starts with ``BEGIN IMMEDIATE`` and the
writer pool holds one connection: a deferred transaction that reads, then
writes, fails with SQLITE_BUSY (no waiting) when another writer committed in
between, which is exactly what concurrent identifies of one new user do.
Readers use their own pool and WAL so they never wait for the writer. On
PostgreSQL both are the same engine; unique constraints and ``ON CONFLICT``
do the serialising.

On PostgreSQL the pool is made to survive the network (see
``PoolOptions``): a connection idle for more than a few seconds is pinged
(within ``connect_timeout``) before checkout, any connection whose socket
the server closed is noticed without one, and either is replaced, so the
first request after PostgreSQL restarts or fails over gets a fresh one
instead of a 500; TCP keepalives and per-statement timeouts, on both
sides, bound how long a request can wait on a connection whose peer
silently went away (a partition), and such a connection is discarded
rather than handed to the next request.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import await_

from openplug.db.inline_sqlite import WRITE_LOCK_WAIT_MS, inline_creator, inline_write_creator
from openplug.db.point_reads import PointReader
from openplug.db.sqlite_writes import PostgresWriteBatcher, SqliteWriteBatcher
from openplug.private_files import private_sqlite_file

SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)
T = TypeVar("T")
# A pooled PostgreSQL connection unused for longer is pinged before use.
PING_AFTER_IDLE_S = 5.0
_RETURNED_AT = "openplug_returned_at"


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """PostgreSQL's pool and timeouts (``OPENPLUG_DB_*``); SQLite ignores them."""

    pool_size: int = 20
    max_overflow: int = 20
    # How long a request waits for a pooled connection before failing.
    pool_timeout: float = 10.0
    # How long opening a connection may take (a partitioned server never answers).
    connect_timeout: float = 5.0
    # PostgreSQL cancels a statement running longer; the driver gives up
    # a little later, for a server that cannot even say so.
    statement_timeout: float = 30.0
    # TCP keepalive: idle seconds before the first probe, then probes
    # every ``keepalive_interval`` s, ``keepalive_count`` of them.
    keepalive_idle: int = 30
    keepalive_interval: int = 5
    keepalive_count: int = 3

    @property
    def driver_timeout(self) -> float:
        return self.statement_timeout + max(1.0, self.connect_timeout)

    @property
    def point_read_pool_size(self) -> int:
        """A fifth of ``pool_size`` (at least one) is the point reads' own
        pool (``db.point_reads``), the rest SQLAlchemy's: the process still
        holds at most ``pool_size + max_overflow`` connections (one more
        when ``pool_size`` is 1)."""
        return max(1, self.pool_size // 5)

    @property
    def engine_pool_size(self) -> int:
        return max(1, self.pool_size - self.point_read_pool_size)


class Database:
    def __init__(self, url: str, pool: PoolOptions | None = None) -> None:
        self.url = url
        parsed = make_url(url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self.failures = ConnectionFailures()
        self._batcher: SqliteWriteBatcher | PostgresWriteBatcher
        if self.is_sqlite:
            _quiet_driver_log("aiosqlite")
            if (path := _sqlite_file(parsed)) is not None:
                private_sqlite_file(path)
            # A file's writes run in the loop's thread while the lock is
            # free (see inline_sqlite.InlineWriteConnection).
            inline_write = (
                {} if path is None else {"async_creator": inline_write_creator(str(path))}
            )
            self.writer = create_async_engine(
                url, pool_size=1, max_overflow=0, pool_timeout=60, **inline_write
            )
            _configure_sqlite(
                self.writer.sync_engine,
                begin="BEGIN IMMEDIATE",
                busy_timeout_ms=0 if path is not None else WRITE_LOCK_WAIT_MS,
            )
            # Readers run each SELECT in autocommit: no BEGIN/ROLLBACK round
            # trips to the driver thread. Nothing relies on several reads
            # sharing a snapshot; writes re-read inside their transaction.
            # A file's readers run in the loop's thread (see inline_sqlite).
            inline = {} if path is None else {"async_creator": inline_creator(str(path))}
            self.reader = create_async_engine(
                url, pool_size=8, max_overflow=0, pool_reset_on_return=None, **inline
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
            self.pool = pool or PoolOptions()
            self.writer = _postgres_engine(url, self.pool, self.failures)
            self.reader = self.writer
            self._batcher = PostgresWriteBatcher(self.writer)
        self.points = PointReader(self)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One transaction: committed on success, rolled back on any error."""
        async with self.writer.begin() as conn:
            yield conn

    async def run_write(self, work: Callable[[Connection], T]) -> T:
        """Run synchronous ``work`` in a write transaction, for hot write
        paths, with group commit on both backends (see ``sqlite_writes``).
        It may run more than once (a batch that fails is re-run one work
        at a time), so it must be an upsert that is safe to repeat."""
        result: T = await self._batcher.run(work)
        return result

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.reader.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.points.aclose()
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()
        if isinstance(self._batcher, SqliteWriteBatcher):
            self._batcher.close()


def postgres_connect_args(pool: PoolOptions) -> dict[str, Any]:
    """``asyncpg.connect``'s arguments for every connection a process opens
    (the engine's and ``db.point_reads``' own)."""
    return {
        "timeout": pool.connect_timeout,
        "command_timeout": pool.driver_timeout,
        "server_settings": {
            "statement_timeout": str(int(pool.statement_timeout * 1000)),
            # The server's side of the keepalive: it drops the backends
            # of clients that went away, instead of holding their locks.
            "tcp_keepalives_idle": str(pool.keepalive_idle),
            "tcp_keepalives_interval": str(pool.keepalive_interval),
            "tcp_keepalives_count": str(pool.keepalive_count),
        },
    }


class ConnectionFailures:
    """When this process last saw a connection to PostgreSQL fail (a
    partition, a restart). What broke one broke the others that were open
    then: a pooled connection returned before that moment is pinged at its
    next checkout even if it was used moments ago, so the first request
    after the database is back does not meet a dead connection."""

    def __init__(self) -> None:
        self.last_seen = float("-inf")

    def note(self) -> None:
        self.last_seen = time.monotonic()


def _postgres_engine(url: str, pool: PoolOptions, failures: ConnectionFailures) -> AsyncEngine:
    ping_timeout = pool.connect_timeout
    engine = create_async_engine(
        url,
        pool_size=pool.engine_pool_size,
        max_overflow=pool.max_overflow,
        pool_timeout=pool.pool_timeout,
        connect_args=postgres_connect_args(pool),
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        keepalive(dbapi_connection.driver_connection, pool)
        record.info[_RETURNED_AT] = time.monotonic()  # just opened: alive

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _pre_ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # SQLAlchemy's pool_pre_ping, with a deadline of its own: its ping
        # waits as long as any statement, and a timeout is not a disconnect
        # to it, so a dead pooled connection failed the request instead of
        # being replaced. DisconnectionError makes the pool open a new one.
        #
        # A round trip per checkout doubled the cost of a point read, so a
        # connection back from use moments ago is only checked for what
        # costs nothing: whether its socket was closed (a restart or a
        # terminated backend closes it, and asyncpg sees that as it reads).
        # One idle longer than PING_AFTER_IDLE_S is pinged.
        driver = dbapi_connection.driver_connection
        if driver.is_closed():
            raise DisconnectionError("pooled connection was closed by the server")
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None:
            return
        fresh = time.monotonic() - returned_at < PING_AFTER_IDLE_S
        if fresh and returned_at > failures.last_seen:
            return
        try:
            await_(driver.fetchval("SELECT 1", timeout=ping_timeout))
        except Exception as e:  # closed, reset, timed out: not usable either way
            raise DisconnectionError(f"pooled connection failed its ping: {e!r}") from e

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        # The driver timed out waiting for the server: the connection's
        # state is unknown (a partition, a server that stopped answering).
        # Discard it instead of handing it to the next request.
        # So is one whose backend was terminated while it sat in the pool
        # and whose FATAL error was read but not yet its closed socket
        # (asyncpg's InternalClientError "cannot switch to state ...").
        original = context.original_exception
        if isinstance(original, asyncio.TimeoutError | TimeoutError) or isinstance(
            original.__cause__, asyncpg.InternalClientError
        ):
            context.is_disconnect = True
        if context.is_disconnect:
            failures.note()

    return engine


def keepalive(connection: Any, pool: PoolOptions) -> None:
    """The client's side of the keepalive, which asyncpg does not set: a
    dead peer is noticed even on an idle pooled connection, and
    ``TCP_USER_TIMEOUT`` ends a write nobody acknowledges."""
    transport = getattr(connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", pool.keepalive_idle),
        ("TCP_KEEPINTVL", pool.keepalive_interval),
        ("TCP_KEEPCNT", pool.keepalive_count),
        ("TCP_USER_TIMEOUT", int(pool.driver_timeout * 1000)),
    ):
        option = getattr(socket, name, None)
        if option is not None:
            sock.setsockopt(socket.IPPROTO_TCP, option, value)


def _quiet_driver_log(name: str) -> None:
    """aiosqlite logs every statement with its parameters at DEBUG: agents'
    password hashes, every visitor's traits. A server run at DEBUG is
    debugging openplug, not the driver; an operator who wants the driver's
    lines sets that logger's level, which is then left alone."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


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
