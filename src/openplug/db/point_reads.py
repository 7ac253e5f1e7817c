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

On PostgreSQL the query runs on the pooled connection's asyncpg driver
directly: one round trip (asyncpg's prepared-statement cache makes it a
bind and execute of a statement parsed once per connection), where going
through SQLAlchemy added a BEGIN before it and a ROLLBACK when the
connection went back to the pool, plus its row machinery. asyncpg runs
outside a transaction, so there is nothing to roll back. A connection
that fails is invalidated (SQLAlchemy never saw the error, so it would not
know to) and the read, which changes nothing, is tried once more on
another.
"""

from __future__ import annotations

import asyncio
import sqlite3
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
_CONNECTION_FAILURES = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
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
        return {
            key: (process(value) if process is not None else value)
            for (key, process), value in zip(columns, raw, strict=True)
        }

    async def _postgres_row(self, sql: str, args: list[Any]) -> Any:
        for attempt in (1, 2):
            async with self.db.reader.connect() as conn:
                driver = (await conn.get_raw_connection()).driver_connection
                if driver is None:  # never for a pooled connection
                    raise RuntimeError("pooled connection without its driver connection")
                try:
                    return await driver.fetchrow(sql, *args)
                except _CONNECTION_FAILURES:
                    await conn.invalidate()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
