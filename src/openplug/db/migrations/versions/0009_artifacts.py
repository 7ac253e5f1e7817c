"""files in conversations (artifacts)

Revision ID: 0009
Revises: 0013
Create Date: 2026-12-02 14:20:00

Numbered 0009 as assigned; it follows 0013, the head it was written
against, so the chain stays linear.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0009"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "artifacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("declared_type", sa.String(length=255), nullable=True),
        sa.Column("content_type", sa.String(length=127), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("storage_key", sa.String(length=64), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("has_inline", sa.Boolean(), nullable=False),
        sa.Column("has_thumbnail", sa.Boolean(), nullable=False),
        sa.Column("uploader_rev_user_id", sa.Integer(), nullable=True),
        sa.Column("uploader_dev_user_id", sa.Integer(), nullable=True),
        sa.Column("app_pk", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("uploaded_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("attached_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.CheckConstraint(
            "uploader_rev_user_id IS NULL OR uploader_dev_user_id IS NULL",
            name="ck_artifacts_one_uploader",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_artifacts_uploader_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["uploader_dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_artifacts_uploader_dev_user_id_dev_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.id"], name=op.f("fk_artifacts_app_pk_apps"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_artifacts_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_artifacts_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_artifacts_storage_key")),
        sqlite_autoincrement=True,
    )
    for column in ("uploader_rev_user_id", "message_id", "conversation_id"):
        op.create_index(op.f(f"ix_artifacts_{column}"), "artifacts", [column])
    op.create_index("ix_artifacts_orphans", "artifacts", ["message_id", "created_at"])


def downgrade() -> None:
    op.drop_table("artifacts")
