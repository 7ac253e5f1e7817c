"""availability: apps' time zone, office hours, reply time and away message;
messages posted as an app's team

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0007"
# Chained after main's newest; the lead re-chains at merge.
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite rebuilds messages for the new constraints: its keys stay never
# reused (0003), and the tables it refers to need not be reflected.
_AUTOINCREMENT = {"sqlite_autoincrement": True}
_NO_REFERRED_TABLES = {"resolve_fks": False}


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="UTC")
        )
        batch.add_column(sa.Column("office_hours", openplug.db.base.Json, nullable=True))
        batch.add_column(sa.Column("reply_time", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("away_message", sa.Text(), nullable=True))
    with op.batch_alter_table(
        "messages", table_kwargs=_AUTOINCREMENT, reflect_kwargs=_NO_REFERRED_TABLES
    ) as batch:
        batch.add_column(sa.Column("author_app_pk", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_messages_author_app_pk_apps"),
            "apps",
            ["author_app_pk"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_check_constraint(
            "ck_messages_team_author",
            "author_app_pk IS NULL OR (author_rev_user_id IS NULL AND author_dev_user_id IS NULL)",
        )


def downgrade() -> None:
    with op.batch_alter_table(
        "messages", table_kwargs=_AUTOINCREMENT, reflect_kwargs=_NO_REFERRED_TABLES
    ) as batch:
        batch.drop_constraint("ck_messages_team_author", type_="check")
        batch.drop_constraint(op.f("fk_messages_author_app_pk_apps"), type_="foreignkey")
        batch.drop_column("author_app_pk")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("away_message")
        batch.drop_column("reply_time")
        batch.drop_column("office_hours")
        batch.drop_column("time_zone")
