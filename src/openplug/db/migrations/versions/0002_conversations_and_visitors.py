"""conversations and visitors

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:56:05.596337
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_sessions",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_sessions")),
    )
    with op.batch_alter_table("revoked_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_revoked_sessions_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("last_message_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("activity_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.id"], name=op.f("fk_conversations_app_pk_apps"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index("ix_conversations_activity", ["activity_at", "id"], unique=False)

    op.create_table(
        "agent_reads",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("dev_user_id", sa.Integer(), nullable=False),
        sa.Column("last_read_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_agent_reads_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_agent_reads_dev_user_id_dev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "dev_user_id", name=op.f("pk_agent_reads")),
    )
    op.create_table(
        "anonymous_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=False),
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["app_pk"],
            ["apps.id"],
            name=op.f("fk_anonymous_credentials_app_pk_apps"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_anonymous_credentials_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_anonymous_credentials")),
        sa.UniqueConstraint("digest", name=op.f("uq_anonymous_credentials_digest")),
    )
    with op.batch_alter_table("anonymous_credentials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_anonymous_credentials_rev_user_id"), ["rev_user_id"], unique=False
        )

    op.create_table(
        "conversation_members",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("last_read_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_members_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_conversation_members_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "rev_user_id", name=op.f("pk_conversation_members")
        ),
    )
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_members_rev_user_id"), ["rev_user_id"], unique=False
        )

    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("author_rev_user_id", sa.Integer(), nullable=True),
        sa.Column("author_dev_user_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.CheckConstraint(
            "author_rev_user_id IS NULL OR author_dev_user_id IS NULL",
            name="ck_messages_one_author",
        ),
        sa.ForeignKeyConstraint(
            ["author_dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_messages_author_dev_user_id_dev_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_messages_author_rev_user_id_rev_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
    )
    op.create_table(
        "visitor_merges",
        sa.Column("anonymous_rev_user_id", sa.Integer(), nullable=False),
        sa.Column("identified_rev_user_id", sa.Integer(), nullable=False),
        sa.Column("conversations_moved", sa.Integer(), nullable=False),
        sa.Column("merged_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["anonymous_rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_visitor_merges_anonymous_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["identified_rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_visitor_merges_identified_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("anonymous_rev_user_id", name=op.f("pk_visitor_merges")),
    )
    with op.batch_alter_table("visitor_merges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_visitor_merges_identified_rev_user_id"),
            ["identified_rev_user_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("visitor_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_merges_identified_rev_user_id"))

    op.drop_table("visitor_merges")
    op.drop_table("messages")
    with op.batch_alter_table("conversation_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_members_rev_user_id"))

    op.drop_table("conversation_members")
    with op.batch_alter_table("anonymous_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_anonymous_credentials_rev_user_id"))

    op.drop_table("anonymous_credentials")
    op.drop_table("agent_reads")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_activity")

    op.drop_table("conversations")
    with op.batch_alter_table("revoked_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_revoked_sessions_expires_at"))

    op.drop_table("revoked_sessions")
