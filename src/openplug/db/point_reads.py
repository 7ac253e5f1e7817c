"""Point lookups for the hot path, without SQLAlchemy's per-execution cost.

Every ``auth-tokens.create`` looks up an AAT and up to three CRM rows by a
unique key. Through ``AsyncConnection.execute`` each lookup costs a hop to
aiosqlite's thread plus SQLAlchemy's execution machinery: several times the
cost of the query itself, and more than a whole trivial request. Here
SQLAlchemy still writes the SQL (compiled once per statement) and still
converts the values (the columns' own result processors), but on SQLite the
query runs directly on a read-only connection in the event loop's thread.
An indexed read in WAL mode takes microseconds and never waits for a
writer, so this blocks the loop for less time than the hop it replaces.

On PostgreSQL the query runs on a connection of the reader's own asyncpg
pool: one round trip (asyncpg's prepared-statement cache makes it a bind
and execute of a statement parsed once per connection). Taking a
connection from SQLAlchemy's pool for it cost three greenlet hops and the
pool's checkout and checkin machinery, about twice the read itself, and
asyncpg's pool would add a reset query per use; these connections only
ever run single SELECTs outside a transaction, so there is nothing to
reset. The pool's size is carved out of ``OPENPLUG_DB_POOL_SIZE`` (see
``PoolOptions.point_read_pool_size``); a connection idle for longer than
``PING_AFTER_IDLE_S`` is closed rather than reused, so a read after a
quiet spell never meets a connection the network silently dropped. A
connection that fails is terminated and the read, which changes nothing,
is tried once more on another.
"""

from __future__ import annotations

import asyncio
import json as _json
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import JSON, Select
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.types import TypeEngine

if TYPE_CHECKING:
    from openplug.db.engine import Database


Processor = Callable[[Any], Any]
_Compiled = tuple[str, tuple[str, ...], list[tuple[str, Processor | None]]]


@dataclass
class PointRead:
    """A SELECT with named ``bindparam``s that returns at most one row."""

    statement: Select[Any]
    # Per dialect: one process may serve SQLite and PostgreSQL (the tests).
    _compiled: dict[str, _Compiled] = field(default_factory=dict, repr=False)

    def compiled(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is None:
            c = self.statement.compile(dialect=dialect)
            columns: list[tuple[str, Processor | None]] = [
                (str(col.key), _result_processor(col.type, dialect))
                for col in self.statement.selected_columns
            ]
            found = self._compiled[dialect.name] = (str(c), tuple(c.positiontup or ()), columns)
        return found


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    process = type_._cached_result_processor(dialect, None)
    if process is None or not isinstance(type_.dialect_impl(dialect), JSON):
        return process
    # Most JSON columns of a CRM row hold an empty list or object; those
    # need no parser (a new object each time, as parsing would give).
    json_process = process

    def process_json(value: Any) -> Any:
        if value == "[]":
            return []
        if value == "{}":
            return {}
        return json_process(value)

    return process_json


# A connection that is gone or in an unknown state (a timeout mid-query).
# InternalClientError is what a read meets on a connection whose backend
# was just terminated (a restart, pg_terminate_backend): the server's FATAL
# error has arrived and is being consumed, the socket is not yet closed,
# so the connection looks open but cannot start a query ("cannot switch to
# state 12; another operation (2) is in progress").
_CONNECTION_FAILURES = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,
    asyncio.TimeoutError,
    TimeoutError,
)


class PointReader:
    """Reads with ``one()``; parameters are the statement's ``bindparam``s
    (plain strings and integers: no bind-side type processing is done)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._sqlite: sqlite3.Connection | None = None
        self._path = make_url(db.url).database if db.is_sqlite else None
        self._connections: _Connections | None = None

    def _sqlite_connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            assert self._path is not None
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            self._sqlite = conn
        return self._sqlite

    async def one(self, query: PointRead, **params: Any) -> Mapping[str, Any] | None:
        sql, order, columns = query.compiled(self.db.reader.dialect)
        args = [params[k] for k in order]
        if self.db.is_sqlite:
            raw = self._sqlite_connection().execute(sql, args).fetchone()
        else:
            raw = await self._postgres_row(sql, args)
        if raw is None:
            return None
        # NULL is None whatever the column's type: a combined read (the AAT
        # with the CRM rows) has many, and no processor needs calling for them.
        return {
            key: (process(value) if process is not None and value is not None else value)
            for (key, process), value in zip(columns, raw, strict=True)
        }

    async def _postgres_row(self, sql: str, args: list[Any]) -> Any:
        if self._connections is None:
            self._connections = _Connections(self.db)
        for attempt in (1, 2):
            try:
                conn = await self._connections.take()
            except _CONNECTION_FAILURES:
                # A connect that failed or timed out (a server restarting,
                # a path just healed, a loaded machine): once more.
                if attempt == 2:
                    raise
                continue
            try:
                row = await conn.fetchrow(sql, *args)
            except _CONNECTION_FAILURES:
                self._connections.give_back(conn, broken=True)
                # What broke this one (a restart, a partition) broke the
                # idle ones too, as SQLAlchemy's pool assumes on a
                # disconnect: the retry opens a new connection, and the
                # engine's pooled ones are pinged before their next use.
                self._connections.discard_idle()
                self.db.failures.note()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                self._connections.give_back(conn, broken=True)  # state unknown (cancelled)
                raise
            self._connections.give_back(conn)
            return row
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._connections is not None:
            await self._connections.aclose()
            self._connections = None


class _Connections:
    """The point reads' own asyncpg connections, at most
    ``PoolOptions.point_read_pool_size``, the most recently returned used
    first. Not ``asyncpg.Pool``: its task per release, idle timers and
    reset query cost more than the read they serve, and these connections
    need none of it: they run single SELECTs outside any transaction. One
    idle longer than ``PING_AFTER_IDLE_S`` is closed instead of reused (the
    network may have dropped it silently), one that failed is terminated."""

    def __init__(self, db: Database) -> None:
        from openplug.db.engine import PING_AFTER_IDLE_S, postgres_connect_args

        self._options = options = db.pool
        _, url_args = db.reader.dialect.create_connect_args(make_url(db.url))
        url_args.pop("prepared_statement_cache_size", None)
        self._connect_args = {**url_args, **postgres_connect_args(options)}
        self._max_idle_s = PING_AFTER_IDLE_S
        self._slots = asyncio.Semaphore(options.point_read_pool_size)
        self._idle: list[tuple[asyncpg.Connection, float]] = []

    async def take(self) -> asyncpg.Connection:
        await self._slots.acquire()
        try:
            while self._idle:
                conn, returned_at = self._idle.pop()
                if not conn.is_closed() and time.monotonic() - returned_at < self._max_idle_s:
                    return conn
                conn.terminate()
            return await self._open()
        except BaseException:
            self._slots.release()
            raise

    def give_back(self, conn: asyncpg.Connection, *, broken: bool = False) -> None:
        if broken or conn.is_closed():
            conn.terminate()
        else:
            self._idle.append((conn, time.monotonic()))
        self._slots.release()

    async def _open(self) -> asyncpg.Connection:
        from openplug.db.engine import keepalive

        conn = await asyncpg.connect(**self._connect_args)
        try:
            keepalive(conn, self._options)
            for kind in ("json", "jsonb"):
                await conn.set_type_codec(
                    kind, encoder=_json.dumps, decoder=_json_value, schema="pg_catalog"
                )
        except BaseException:
            conn.terminate()
            raise
        return conn

    def discard_idle(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.terminate()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()


def _json_value(text: str) -> Any:
    """As SQLAlchemy's JSON columns decode (most CRM values are empty)."""
    if text == "[]":
        return []
    if text == "{}":
        return {}
    return _json.loads(text)
