"""timeline entries have a visibility (internal notes); edits and deletes are
steps of the stream a socket resumes (their seqs, the deletions' record)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "messages",
        sa.Column("visibility", sa.String(length=16), nullable=False, server_default="external"),
    )
    # Every entry so far is external, so the visitors' stream position is
    # the conversation's.
    op.add_column(
        "conversations",
        sa.Column("visitor_last_seq", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute("UPDATE conversations SET visitor_last_seq = last_seq")
    op.add_column("messages", sa.Column("edited_seq", sa.Integer(), nullable=True))
    op.create_table(
        "deleted_entries",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("visibility", sa.String(length=16), nullable=False),
        sa.Column("author_dev_user_id", sa.Integer(), nullable=True),
        sa.Column("deleted_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_deleted_entries_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "seq", name=op.f("pk_deleted_entries")),
    )


def downgrade() -> None:
    op.drop_table("deleted_entries")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("edited_seq")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("visitor_last_seq")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("visibility")
