"""keys never reused; one agent per email whatever its case

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 03:40:00

SQLite hands out the highest rowid again once its row is deleted, so a
deleted user's key could become a newcomer's while a token still named it.
AUTOINCREMENT is a property of the table's definition: each table keyed by
an integer id is rebuilt with it (``openplug.db.migrate`` turns SQLite's
foreign keys off around the migrations, so rebuilding a parent cascades
nothing). PostgreSQL's sequences never go back; nothing changes there.

Agent emails were unique as typed but looked up ignoring case. Rows that
only differ in case (made by ``agents create`` before this fix) keep the
oldest as is; later ones get ``+duplicate-<id>`` in their local part and
keep their id, tokens and password, so nothing is lost and nobody shares
an address any longer.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYED_BY_ID = (
    "instance",
    "apps",
    "dev_users",
    "access_tokens",
    "accounts",
    "rev_orgs",
    "rev_users",
    "custom_field_defs",
    "conversations",
    "messages",
    "anonymous_credentials",
)


def upgrade() -> None:
    bind = op.get_bind()
    _separate_case_duplicate_agents(bind)
    if bind.dialect.name == "sqlite":
        for table in _KEYED_BY_ID:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ) as batch_op:
                if table == "dev_users":
                    batch_op.drop_constraint("uq_dev_users_email", type_="unique")
    else:
        op.drop_constraint("uq_dev_users_email", "dev_users", type_="unique")
    op.create_index("ux_dev_users_email_lower", "dev_users", [sa.text("lower(email)")], unique=True)


def _separate_case_duplicate_agents(bind: sa.Connection) -> None:
    rows = bind.execute(sa.text("SELECT id, email FROM dev_users ORDER BY id")).all()
    seen: set[str] = set()
    for pk, email in rows:
        if email.lower() not in seen:
            seen.add(email.lower())
            continue
        local, _, domain = email.rpartition("@")
        bind.execute(
            sa.text("UPDATE dev_users SET email = :email WHERE id = :id"),
            {"email": f"{local}+duplicate-{pk}@{domain}", "id": pk},
        )


def downgrade() -> None:
    op.drop_index("ux_dev_users_email_lower", "dev_users")
    if op.get_bind().dialect.name == "sqlite":
        for table in _KEYED_BY_ID:
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": False}
            ) as batch_op:
                if table == "dev_users":
                    batch_op.create_unique_constraint("uq_dev_users_email", ["email"])
    else:
        op.create_unique_constraint("uq_dev_users_email", "dev_users", ["email"])
