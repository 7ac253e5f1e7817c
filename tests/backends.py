"""Which real backends this machine offers the tests, and a fresh database
for each server a test starts.

Suites that need PostgreSQL (or, later, Redis and Chromium) skip with the
reason when it is absent, unless OPENPLUG_TEST_REQUIRE_ALL=1, under which
a missing backend fails the test instead: CI sets it so that nothing is
silently left out.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from openplug.db import Database
from openplug.db.migrate import migrate

PG_ADMIN_DSN = os.environ.get("OPENPLUG_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OPENPLUG_TEST_REDIS", "redis://127.0.0.1:6379/0")
REQUIRE_ALL = os.environ.get("OPENPLUG_TEST_REQUIRE_ALL") == "1"


def missing_backend(reason: str) -> None:
    if REQUIRE_ALL:
        pytest.fail(f"{reason} (OPENPLUG_TEST_REQUIRE_ALL=1 forbids skipping)")
    pytest.skip(reason)


async def redis_url() -> str:
    """The test Redis's URL once it answers a ping (else skip or fail)."""
    probe = Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await probe.ping()
    except Exception as e:  # connection refused, timeout, auth: no usable Redis
        missing_backend(f"Redis not reachable at {REDIS_URL}: {e!r}")
    finally:
        await probe.aclose()
    return REDIS_URL


async def _pg_admin(statement: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _run(coro: object) -> None:
    # Called from sync fixtures, possibly while a test's loop is running in
    # this thread; a private loop in a helper thread avoids both problems.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coro).result()  # type: ignore[arg-type]


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one server; dropped afterwards."""
    name = f"openplug_test_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        _run(_pg_admin(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as e:
        missing_backend(f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {e}")
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        _run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@asynccontextmanager
async def migrated_database(backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A ``Database`` at the newest migration: a SQLite file under
    ``tmp_path``, or a new PostgreSQL database (``backend`` "postgresql")."""
    with database_url(backend) as url:
        db = Database(url or f"sqlite+aiosqlite:///{tmp_path / 'openplug.db'}")
        try:
            await migrate(db)
            yield db
        finally:
            await db.dispose()


@contextmanager
def database_url(backend: str) -> Iterator[str | None]:
    """A new PostgreSQL database's URL for "postgresql"; None (the server's
    own SQLite file in its data dir) for "sqlite"."""
    if backend == "postgresql":
        with postgres_database() as url:
            yield url
    else:
        yield None
