"""The hot path's own PostgreSQL connections (``db.point_reads``) survive
their backends being terminated, as in a PostgreSQL restart: the next read
answers, on a new connection, instead of failing the request."""

from __future__ import annotations

from pathlib import Path

import asyncpg
from sqlalchemy import bindparam, select

from openplug.crm.tables import rev_users
from openplug.db.point_reads import PointRead
from tests.backends import PG_ADMIN_DSN, migrated_database

_BY_REF = PointRead(select(rev_users.c.id).where(rev_users.c.external_ref == bindparam("ref")))


async def _terminate_other_backends(database: str) -> int:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        return len(
            await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                database,
            )
        )
    finally:
        await conn.close()


async def test_a_read_right_after_its_backend_is_terminated_answers(tmp_path: Path) -> None:
    async with migrated_database("postgresql", tmp_path) as db:
        database = db.url.rsplit("/", 1)[1]
        assert await db.points.one(_BY_REF, ref="nobody") is None  # one idle connection now
        # Each round kills the connection the reader holds and reads at once:
        # the FATAL error may be half consumed, the socket still open.
        for _ in range(20):
            assert await _terminate_other_backends(database) >= 1
            assert await db.points.one(_BY_REF, ref="nobody") is None
