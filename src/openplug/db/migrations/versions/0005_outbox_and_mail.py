"""the outbox and mail

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 08:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("apps") as batch:
        batch.add_column(
            sa.Column("mail_delay_seconds", sa.Integer(), nullable=False, server_default="120")
        )
        batch.add_column(sa.Column("site_url", sa.String(length=2048), nullable=True))
    op.create_table(
        "outbox_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("pending_key", sa.String(length=255), nullable=True),
        sa.Column("payload", openplug.db.base.Json, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("due_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("claimed_until", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("finished_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_jobs")),
        sa.UniqueConstraint("pending_key", name=op.f("uq_outbox_jobs_pending_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outbox_jobs_due", "outbox_jobs", ["state", "due_at"])
    op.create_table(
        "outgoing_mails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("rev_user_id", sa.Integer(), nullable=True),
        sa.Column("dev_user_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("sent_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_outgoing_mails_conversation_id_conversations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_outgoing_mails_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_outgoing_mails_dev_user_id_dev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outgoing_mails")),
        sa.UniqueConstraint("message_id", name=op.f("uq_outgoing_mails_message_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_outgoing_mails_conversation", "outgoing_mails", ["conversation_id"])
    op.create_index("ix_outgoing_mails_rev_user", "outgoing_mails", ["rev_user_id"])
    op.create_table(
        "visitor_mail",
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("email_claim", sa.String(length=320), nullable=True),
        sa.Column("claimed_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("unsubscribed_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_visitor_mail_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("rev_user_id", name=op.f("pk_visitor_mail")),
    )
    op.create_table(
        "visitor_mail_marks",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("rev_user_id", sa.Integer(), nullable=False),
        sa.Column("mailed_through_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_visitor_mail_marks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["rev_user_id"],
            ["rev_users.id"],
            name=op.f("fk_visitor_mail_marks_rev_user_id_rev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "rev_user_id", name=op.f("pk_visitor_mail_marks")
        ),
    )
    op.create_index(
        op.f("ix_visitor_mail_marks_rev_user_id"), "visitor_mail_marks", ["rev_user_id"]
    )
    op.create_table(
        "agent_mail_marks",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("dev_user_id", sa.Integer(), nullable=False),
        sa.Column("mailed_through_seq", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_agent_mail_marks_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_agent_mail_marks_dev_user_id_dev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "dev_user_id", name=op.f("pk_agent_mail_marks")),
    )


def downgrade() -> None:
    op.drop_table("agent_mail_marks")
    op.drop_index(op.f("ix_visitor_mail_marks_rev_user_id"), "visitor_mail_marks")
    op.drop_table("visitor_mail_marks")
    op.drop_table("visitor_mail")
    op.drop_index("ix_outgoing_mails_rev_user", "outgoing_mails")
    op.drop_index("ix_outgoing_mails_conversation", "outgoing_mails")
    op.drop_table("outgoing_mails")
    op.drop_index("ix_outbox_jobs_due", "outbox_jobs")
    op.drop_table("outbox_jobs")
    with op.batch_alter_table("apps") as batch:
        batch.drop_column("site_url")
        batch.drop_column("mail_delay_seconds")
