"""SQLite reads (and uncontended writes) without a thread hop per call.

aiosqlite runs every call (a cursor, an execute, each fetch) on the
connection's own thread and wakes the event loop for each answer: a widget
``conversations.list`` made about twenty such hops, and each hop is two
thread wake-ups and a hand-over of the GIL, which on a busy 2-core machine
cost several milliseconds of CPU per request for about one millisecond of
SQL. The read pool's connections are instead aiosqlite connections whose
calls run in the caller's (the event loop's) thread: SQLAlchemy's
aiosqlite dialect is unchanged, nothing waits on a queue.

Why blocking the loop is fine here (as for ``db.point_reads``): these are
read-only connections in WAL mode, which never wait for the writer; the
hot reads are indexed and take microseconds to a millisecond, less than the
hops they replace. Writes run inline too until one would wait for the
lock (``InlineWriteConnection``), and then on aiosqlite's thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import aiosqlite


class _Immediately:
    """Stands in for the worker thread's queue, which SQLAlchemy's dialect
    also uses directly (to set ``isolation_level``): runs the call at once
    and settles its future."""

    def put_nowait(self, item: tuple[Any, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as e:
            if future is not None:
                future.set_exception(e)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An ``aiosqlite.Connection`` that starts no thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._tx = _Immediately()  # type: ignore[assignment]

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        return self._connect().__await__()

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()


class InlineWriteConnection(aiosqlite.Connection):
    """The write engine's connection: each call runs in the caller's thread
    while it need not wait for the lock, on aiosqlite's thread when it
    must.

    A write transaction here is a handful of indexed statements on a local
    file, shorter than the thread hops it took (a visitor's message made
    about twenty). Only taking the write lock can wait: ``BEGIN IMMEDIATE``
    while another connection writes (the group-commit writer, the CLI,
    another process). The connection's ``busy_timeout`` is 0, so that
    statement fails at once with SQLITE_BUSY, having done nothing, and is
    run again on the thread with a real timeout while the loop goes on.
    Once the lock is held, nothing else in the transaction waits for one
    (WAL: readers never block the writer)."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as e:
            if e.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        return await super()._execute(self._waiting, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _waiting(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={WRITE_LOCK_WAIT_MS}")
        try:
            return fn(*args, **kwargs)
        finally:
            conn.execute("PRAGMA busy_timeout=0")


# How long a write waits for SQLite's lock (on aiosqlite's thread).
WRITE_LOCK_WAIT_MS = 30000


def inline_write_creator(path: str) -> Callable[[], Any]:
    """``create_async_engine(async_creator=...)`` for the write engine; the
    engine's connect hook must set ``busy_timeout`` to 0."""
    connector = partial(sqlite3.connect, path, check_same_thread=False)

    async def create() -> aiosqlite.Connection:
        return await InlineWriteConnection(connector, iter_chunk_size=64)

    return create


def inline_creator(path: str) -> Callable[[], Any]:
    """``create_async_engine(async_creator=...)`` for the read pool."""
    connector = partial(sqlite3.connect, path, check_same_thread=False)

    async def create() -> InlineConnection:
        return await InlineConnection(connector, iter_chunk_size=64)

    return create
