"""Hot SQLite writes: group commit, in the event loop's thread when it can
(and the same group commit on PostgreSQL: ``PostgresWriteBatcher``).

Writes that are ready in the same turn of the event loop are run together
in one transaction and committed once. SQLite allows one writer at a time,
so under load the requests would queue anyway; sharing the BEGIN, the
COMMIT and its WAL write among them is where the time goes. A failing
request rolls the whole batch back, and then each of its works runs again
in a transaction of its own (``_run_batch``), so only the failing one fails.

The batch runs right in the loop's thread when the write lock is free: a
short local transaction costs less than handing it to another thread, which
then has to win the GIL back from the loop after every statement. When
another connection (the CLI, a second process) holds the lock,
``BEGIN IMMEDIATE`` fails at once (``busy_timeout=0`` on that connection)
and the batch goes to a writer thread, which waits for the lock without
stalling the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement
from sqlalchemy.util import greenlet_spawn

Work = Callable[[Connection], Any]
Outcome = tuple[bool, Any]  # (succeeded, result or exception)
MAX_BATCH = 64
BATCH_MEMO = "openplug.batch_memo"


class SqliteWriteBatcher:
    def __init__(self, inline: Engine, waiting: Engine) -> None:
        self._inline = inline
        self._waiting = waiting
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="openplug-writer")
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._flush_scheduled = False
        self._in_thread: set[asyncio.Task[None]] = set()

    async def run(self, work: Work) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((work, future))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        self._flush_scheduled = bool(self._queue)
        if self._queue:
            asyncio.get_running_loop().call_soon(self._flush)
        try:
            outcomes = _run_batch(self._inline, [w for w, _ in batch], wait=False)
        except Exception as e:
            outcomes = [(False, e)] * len(batch)
        if outcomes is None:  # the write lock is taken: wait for it elsewhere
            task = asyncio.ensure_future(self._flush_in_thread(batch))
            self._in_thread.add(task)
            task.add_done_callback(self._in_thread.discard)
            return
        _settle(batch, outcomes)

    async def _flush_in_thread(self, batch: list[tuple[Work, asyncio.Future[Any]]]) -> None:
        works = [w for w, _ in batch]
        try:
            outcomes = await asyncio.get_running_loop().run_in_executor(
                self._thread, _run_batch, self._waiting, works, True
            )
        except Exception as e:
            outcomes = [(False, e)] * len(batch)
        assert outcomes is not None
        _settle(batch, outcomes)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._inline.dispose()
        self._waiting.dispose()


class PostgresWriteBatcher:
    """The same group commit on PostgreSQL: the works queued while a batch
    is in flight run together in the next one, in one transaction on one
    pooled connection (``_run_batch``, through SQLAlchemy's greenlet as
    ``AsyncConnection.run_sync`` does). Per request that spares a BEGIN and
    a COMMIT round trip (and the commit's WAL flush), the connection
    checkout, and the statements the batch shares (``batch_memo``: the
    custom field definitions). One batch at a time: under load the next
    one grows while the current one commits, as SQLite's single writer
    would have them queue anyway."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.sync_engine
        self._queue: list[tuple[Work, asyncio.Future[Any]]] = []
        self._running: asyncio.Task[None] | None = None

    async def run(self, work: Work) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((work, future))
        if self._running is None:
            self._running = asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            # (The task starts on the loop's next turn: the works queued in
            # this one are in the first batch.)
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                works = [w for w, _ in batch]
                try:
                    outcomes = await greenlet_spawn(_run_batch, self._engine, works, True)
                except Exception as e:
                    outcomes = [(False, e)] * len(batch)
                assert outcomes is not None
                _settle(batch, outcomes)
        finally:
            self._running = None


def _settle(batch: list[tuple[Work, asyncio.Future[Any]]], outcomes: list[Outcome]) -> None:
    for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
        if future.done():  # the request was cancelled meanwhile
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _run_batch(engine: Engine, works: list[Work], wait: bool) -> list[Outcome] | None:
    """All works in one transaction and one commit; None if the lock is taken
    and ``wait`` is false.

    Optimistic: a work that fails (a rejected request) may have written half
    of its rows, so then the whole batch is rolled back and each work runs
    again in a transaction of its own. Works are upserts, safe to re-run.
    Only ``BEGIN IMMEDIATE`` can meet a busy lock: once it succeeds this
    connection holds the write lock until it commits.
    """
    with engine.connect() as conn:
        try:
            transaction = conn.begin()
        except OperationalError as e:
            if not wait and ("locked" in str(e.orig) or "busy" in str(e.orig)):
                return None
            raise
        conn.info[BATCH_MEMO] = {}
        try:
            results = [work(conn) for work in works]
            transaction.commit()
            return [(True, result) for result in results]
        except Exception:
            if transaction.is_active:
                transaction.rollback()
            if len(works) == 1:
                raise
        finally:
            conn.info.pop(BATCH_MEMO, None)
        return [_run_alone(conn, work) for work in works]


def _run_alone(conn: Connection, work: Work) -> Outcome:
    try:
        with conn.begin():
            return True, work(conn)
    except Exception as e:
        return False, e


def batch_memo(conn: Connection) -> dict[str, Any] | None:
    """A dict that lives as long as the current batch's transaction, for
    works to share what they read under the lock (None outside a batch)."""
    memo: dict[str, Any] | None = conn.info.get(BATCH_MEMO)
    return memo


# --- statements run straight on the transaction's sqlite3 connection ----------

Processor = Callable[[Any], Any]
_Direct = tuple[str, list[tuple[str, Processor | None]], frozenset[str]]


@dataclass
class DirectWrite:
    """A statement with named ``bindparam``s, compiled once by SQLAlchemy for
    SQLite, that a work runs straight on its transaction's ``sqlite3``
    connection. SQLAlchemy's per-execution machinery (execution context,
    parameter set-up, result wrapping) costs several times what SQLite
    spends on a one-row INSERT; here SQLAlchemy still writes the SQL and
    each value still goes through its column's own bind processor.

    Every ``bindparam`` is a value to give: one left out is NULL, as a
    column left out of an INSERT is when it has no default (the caller's
    statement must not rely on defaults). A name the statement does not
    have is refused, as SQLAlchemy refuses an unknown column."""

    statement: ClauseElement
    _compiled: _Direct | None = field(default=None, repr=False)

    def _compile(self, dialect: Dialect) -> _Direct:
        if self._compiled is None:
            c = self.statement.compile(dialect=dialect)
            assert isinstance(c, SQLCompiler)
            binds: list[tuple[str, Processor | None]] = []
            for name in c.positiontup or ():
                binds.append((name, c.binds[name].type._cached_bind_processor(dialect)))
            self._compiled = (str(c), binds, frozenset(name for name, _ in binds))
        return self._compiled

    def first(self, conn: Connection, params: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run on ``conn`` (SQLite, inside its transaction) and return the
        first row as the driver gives it, or None."""
        assert conn.dialect.name == "sqlite" and conn.in_transaction()
        sql, binds, names = self._compile(conn.dialect)
        if not names.issuperset(params):
            unknown = ", ".join(sorted(set(params) - names))
            raise ArgumentError(f"not a parameter of this statement: {unknown}")
        args: list[Any] = []
        for name, process in binds:
            value = params.get(name)
            if name in params and process is not None:
                value = process(value)
            args.append(value)
        driver = conn.connection.driver_connection
        if isinstance(driver, sqlite3.Connection):
            row: tuple[Any, ...] | None = driver.execute(sql, args).fetchone()
            return row
        # Another SQLite driver (aiosqlite under run_sync): the same SQL and
        # values through SQLAlchemy's driver-level execution.
        found = conn.exec_driver_sql(sql, tuple(args)).first()
        return None if found is None else tuple(found)
