"""Migrations on an existing SQLite install: 0003 rebuilds every table keyed
by an integer id with AUTOINCREMENT and separates agents whose emails only
differ in case, and loses nothing on the way."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine

from openplug.db.migrate import alembic_config
from tests.conftest import ServerFactory
from tests.conversations.helpers import (
    agent_reply,
    anonymous_session,
    identified_token,
    start_conversation,
    widget_ok,
)


def _downgrade_to_0002(db_file: Path) -> None:
    engine = create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # before any BEGIN
            command.downgrade(alembic_config(conn), "0002")
            conn.commit()
    finally:
        engine.dispose()


def _table_sql(db_file: Path, name: str) -> str:
    with sqlite3.connect(db_file) as conn:
        (sql,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
    return str(sql)


def test_0003_rebuilds_with_autoincrement_and_keeps_every_row(make_server: ServerFactory) -> None:
    server = make_server()
    data_dir = server.settings.data_dir
    db_file = data_dir / "openplug.db"
    # An install with history: an identified visitor's conversation with a
    # reply, an anonymous visitor's, and the newest user deleted (the case
    # where SQLite reused the key).
    token = identified_token(server, "kept-user")
    conversation = start_conversation(server, token, "my order?")
    agent_reply(server, conversation["id"], "shipped")
    anonymous = anonymous_session(server)["session_token"]
    start_conversation(server, anonymous, "anonymous question")
    server.stop()

    _downgrade_to_0002(db_file)
    assert "AUTOINCREMENT" not in _table_sql(db_file, "rev_users")
    with sqlite3.connect(db_file) as conn:
        # What the bug made possible: a second agent whose email differs in case.
        conn.execute(
            "INSERT INTO dev_users (email, display_name, role, created_at)"
            " VALUES ('ADMIN@example.com', 'Twin', 'agent', '2026-01-01 00:00:00.000000')"
        )
        before = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("rev_users", "conversations", "conversation_members", "messages",
                          "anonymous_credentials", "access_tokens", "dev_users")
        }  # fmt: skip

    again = make_server(data_dir=data_dir)  # migrates to head on start
    for table in ("rev_users", "conversations", "messages", "dev_users", "access_tokens"):
        assert "AUTOINCREMENT" in _table_sql(db_file, table), table
    with sqlite3.connect(db_file) as conn:
        after = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                 for table in before}  # fmt: skip
        emails = [row[0] for row in conn.execute("SELECT email FROM dev_users ORDER BY id")]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert after == before
    assert emails[0] == "admin@example.com"
    assert emails[1].startswith("ADMIN+duplicate-") and emails[1].endswith("@example.com")

    # Both visitors still see their conversations, with every message.
    # (The first start's credentials are the install's: ``again`` found it set up.)
    token = identified_token(again, "kept-user", aat=server.aat)
    seen = widget_ok(again, token, "messages.list", app_id=server.app_id,
                     conversation=conversation["id"])  # fmt: skip
    assert [m["body"] for m in seen["messages"]] == ["my order?", "shipped"]
    listed = widget_ok(again, anonymous, "conversations.list", app_id=server.app_id)
    assert len(listed["conversations"]) == 1
