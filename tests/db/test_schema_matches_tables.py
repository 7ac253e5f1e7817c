"""The migrations build exactly the schema the code's tables declare, on
both databases: a column added to a ``tables.py`` without its migration (or
the other way round) fails here, not on an operator's upgrade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

# Every domain's tables, as the migrations' env.py imports them.
import openplug.artifacts.tables
import openplug.audit.tables
import openplug.conversations.tables
import openplug.crm.tables
import openplug.idempotency.tables
import openplug.identity.tables
import openplug.mail.tables
import openplug.outbox.tables
import openplug.widget.tables  # noqa: F401
from openplug.db import Database
from openplug.db.base import metadata
from tests.backends import migrated_database


@pytest.fixture(params=["sqlite", "postgresql"])
async def migrated(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path) as db:
        yield db


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": False}
    )
    return [d for d in compare_metadata(context, metadata) if not _alembic_own(d)]


def _alembic_own(diff: Any) -> bool:
    """Alembic's own bookkeeping table is not ours to declare."""
    return (
        isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == "alembic_version"
    )


# SQLite cannot reflect the expression index on lower(email); PostgreSQL
# compares it.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
async def test_migrations_build_the_declared_schema(migrated: Database) -> None:
    async with migrated.writer.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []
