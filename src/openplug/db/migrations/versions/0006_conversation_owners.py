"""conversation owners and agents' mail preference

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_owners",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("dev_user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_owners_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_conversation_owners_dev_user_id_dev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "dev_user_id", name=op.f("pk_conversation_owners")
        ),
    )
    op.create_index(
        op.f("ix_conversation_owners_dev_user_id"), "conversation_owners", ["dev_user_id"]
    )
    # A constant default: SQLite adds such a NOT NULL column in place, with
    # no table rebuild, and every existing agent gets it.
    op.add_column(
        "dev_users",
        sa.Column("mail_notifications", sa.String(length=8), nullable=False, server_default="all"),
    )


def downgrade() -> None:
    # Not a batch rebuild, which would have to recreate the functional
    # index on lower(email): SQLite 3.35+ drops a column in place.
    op.drop_column("dev_users", "mail_notifications")
    op.drop_index(op.f("ix_conversation_owners_dev_user_id"), "conversation_owners")
    op.drop_table("conversation_owners")
