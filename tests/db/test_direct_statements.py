"""Statements that skip SQLAlchemy's per-execution machinery on SQLite:
identify's INSERTs (``sqlite_writes.DirectWrite``) and the JSON shortcut of
the hot-path reads (``point_reads``). Each must store and read exactly what
SQLAlchemy itself would."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, insert
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import create_async_engine

from openplug.crm.identify import _DIRECT_INSERTS
from openplug.crm.tables import accounts, rev_users
from openplug.db.base import Json, metadata
from openplug.db.point_reads import _result_processor

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "direct.db"
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def conn(db_path: Path) -> Iterator[Connection]:
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as connection, connection.begin():
        yield connection
    engine.dispose()


def stored(db_path: Path, table: str, ref: str) -> dict[str, Any]:
    """The raw stored values (what the driver wrote), without the key."""
    with sqlite3.connect(db_path) as raw:
        raw.row_factory = sqlite3.Row
        row = raw.execute(f"SELECT * FROM {table} WHERE external_ref = ?", (ref,)).fetchone()
    assert row is not None
    values = dict(row)
    del values["id"], values["external_ref"]
    return values


def account(ref: str, **extra: Any) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "display_name": "Acme",
        "domains": ["acme.test"],
        "websites": [],
        "phone_numbers": [],
        "custom_fields": {"tier": {"level": 2}},
        "created_at": NOW,
        "modified_at": NOW,
        **extra,
    }


def test_a_direct_insert_stores_what_sqlalchemy_stores(db_path: Path) -> None:
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as c:
        # Left out (description) and given as None (tier) are both NULL.
        new_id = _DIRECT_INSERTS["accounts"].first(c, account("direct", tier=None))
        c.execute(insert(accounts), account("core", tier=None))
    engine.dispose()
    assert new_id is not None and isinstance(new_id[0], int)
    assert stored(db_path, "accounts", "direct") == stored(db_path, "accounts", "core")
    assert stored(db_path, "accounts", "direct")["description"] is None


def test_booleans_datetimes_and_nulls_match_too(db_path: Path) -> None:
    user = {
        "display_name": "Ann",
        "email": None,
        "phone_numbers": ["+911122334455"],
        "custom_fields": {},
        "is_verified": True,
        "state": "active",
        "created_at": NOW,
        "modified_at": NOW,
    }
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.begin() as c:
        _DIRECT_INSERTS["rev_users"].first(c, {"external_ref": "direct", **user})
        c.execute(insert(rev_users), {"external_ref": "core", **user})
    engine.dispose()
    assert stored(db_path, "rev_users", "direct") == stored(db_path, "rev_users", "core")


def test_an_existing_ref_inserts_nothing(conn: Connection) -> None:
    first = _DIRECT_INSERTS["accounts"].first(conn, account("twice"))
    again = _DIRECT_INSERTS["accounts"].first(conn, account("twice", display_name="Other"))
    assert first is not None
    assert again is None
    names = conn.exec_driver_sql("SELECT display_name FROM accounts").all()
    assert [n for (n,) in names] == ["Acme"]


def test_a_name_that_is_no_column_is_refused(conn: Connection) -> None:
    with pytest.raises(ArgumentError, match="colour"):
        _DIRECT_INSERTS["accounts"].first(conn, account("bad", colour="red"))


async def test_another_sqlite_driver_goes_through_sqlalchemy(db_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}")
    insert_aio = _DIRECT_INSERTS["accounts"].first
    async with engine.begin() as c:
        created = await c.run_sync(lambda sync: insert_aio(sync, account("aio")))
        again = await c.run_sync(lambda sync: insert_aio(sync, account("aio")))
    await engine.dispose()
    assert created is not None and isinstance(created[0], int)
    assert again is None
    assert stored(db_path, "accounts", "aio")["domains"] == '["acme.test"]'


@pytest.mark.parametrize("text", ["[]", "{}", '["a", 1]', '{"a": {"b": null}}', "null", "3"])
def test_json_read_shortcut_parses_like_the_column_type(text: str) -> None:
    dialect = sqlite.dialect()
    fast = _result_processor(Json, dialect)
    plain = Json.dialect_impl(dialect).result_processor(dialect, None)
    assert fast is not None and plain is not None
    assert fast(text) == plain(text) == json.loads(text)


def test_json_read_shortcut_gives_a_new_object_each_time() -> None:
    fast = _result_processor(Json, sqlite.dialect())
    assert fast is not None
    first, second = fast("[]"), fast("[]")
    first.append(1)
    assert second == [] and fast("[]") == []
    mapping = fast("{}")
    mapping["k"] = 1
    assert fast("{}") == {}
