"""Bring the schema to the newest migration; safe to call on every start.

Several server processes may start at once against one PostgreSQL database;
an advisory lock makes exactly one of them run the migrations while the
others wait and then find nothing left to do.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from openplug.db.engine import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_PG_MIGRATION_LOCK = 0x6F70656E706C7567 & 0x7FFFFFFFFFFFFFFF  # "openplug"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    command.upgrade(alembic_config(connection), "head")


async def migrate(db: Database) -> None:
    if db.is_sqlite:
        async with db.writer.connect() as conn:
            await conn.run_sync(_upgrade_sqlite)
        return
    # An engine of its own, without the pool's statement timeouts: a
    # migration may rightly run long, or wait for another process's.
    engine = create_async_engine(db.url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def _upgrade_sqlite(connection: Connection) -> None:
    """Migrations on SQLite rebuild tables (``ALTER TABLE`` can change
    little there). With foreign keys enforced, dropping the old copy of a
    parent table would cascade into its children, so enforcement is off for
    the migrations (a pragma that only works outside a transaction, hence
    the driver's own cursor before ``BEGIN``) and the result is checked
    before the commit."""
    _pragma(connection, "PRAGMA foreign_keys=OFF")
    try:
        with connection.begin():
            command.upgrade(alembic_config(connection), "head")
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
            if broken:
                raise RuntimeError(f"migration left dangling references: {broken[:5]}")
    finally:
        _pragma(connection, "PRAGMA foreign_keys=ON")


def _pragma(connection: Connection, statement: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(statement)
    finally:
        cursor.close()
