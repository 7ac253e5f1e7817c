"""replies received by mail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_replies",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("mail_digest", sa.String(length=64), nullable=False),
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("received_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"], ["conversations.id"],
            name=op.f("fk_inbound_replies_conversation_id_conversations"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rev_user_id"], ["rev_users.id"],
            name=op.f("fk_inbound_replies_rev_user_id_rev_users"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"],
            name=op.f("fk_inbound_replies_message_id_messages"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "mail_digest", name=op.f("pk_inbound_replies")
        ),
    )  # fmt: skip
    op.create_index(op.f("ix_inbound_replies_rev_user_id"), "inbound_replies", ["rev_user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_inbound_replies_rev_user_id"), "inbound_replies")
    op.drop_table("inbound_replies")
