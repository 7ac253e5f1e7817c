"""what a site tells openplug about its visitor: events and session properties

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-02 13:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "visitor_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("properties", openplug.db.base.Json, nullable=False),
        sa.Column("page_url", sa.String(length=2048), nullable=True),
        sa.Column("occurred_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rev_user_id"], ["rev_users.id"],
            name=op.f("fk_visitor_events_rev_user_id_rev_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_events")),
        sqlite_autoincrement=True,
    )  # fmt: skip
    op.create_index("ix_visitor_events_rev_user_id_id", "visitor_events", ["rev_user_id", "id"])
    op.create_table(
        "visitor_sessions",
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("properties", openplug.db.base.Json, nullable=False),
        sa.Column("current_page", sa.String(length=2048), nullable=True),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["rev_user_id"], ["rev_users.id"],
            name=op.f("fk_visitor_sessions_rev_user_id_rev_users"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rev_user_id", name=op.f("pk_visitor_sessions")),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("visitor_sessions")
    op.drop_index("ix_visitor_events_rev_user_id_id", "visitor_events")
    op.drop_table("visitor_events")
