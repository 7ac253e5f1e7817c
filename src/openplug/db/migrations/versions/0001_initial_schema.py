"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:49:42.672627
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import openplug.db.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tier", sa.String(length=255), nullable=True),
        sa.Column(
            "domains",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "websites",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "phone_numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "custom_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_accounts_external_ref")),
    )
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column(
            "allowed_origins",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("require_identification", sa.Boolean(), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("app_id", name=op.f("uq_apps_app_id")),
    )
    op.create_table(
        "custom_field_defs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("leaf_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("field_type", sa.String(length=16), nullable=False),
        sa.Column("base_type", sa.String(length=16), nullable=True),
        sa.Column(
            "allowed_values",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("is_required", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_field_defs")),
        sa.UniqueConstraint("leaf_type", "name", name=op.f("uq_custom_field_defs_leaf_type")),
    )
    op.create_table(
        "custom_fragments",
        sa.Column("leaf_type", sa.String(length=16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("leaf_type", name=op.f("pk_custom_fragments")),
    )
    op.create_table(
        "dev_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dev_users")),
        sa.UniqueConstraint("email", name=op.f("uq_dev_users_email")),
    )
    op.create_table(
        "instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance")),
    )
    op.create_table(
        "access_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("token_hint", sa.String(length=255), nullable=False),
        sa.Column("dev_user_id", sa.Integer(), nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("expires_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("revoked_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("last_used_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.id"], name=op.f("fk_access_tokens_app_pk_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["dev_user_id"],
            ["dev_users.id"],
            name=op.f("fk_access_tokens_dev_user_id_dev_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("digest", name=op.f("uq_access_tokens_digest")),
        sa.UniqueConstraint("token_id", name=op.f("uq_access_tokens_token_id")),
    )
    op.create_table(
        "rev_orgs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tier", sa.String(length=255), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column(
            "phone_numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "custom_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rev_orgs_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rev_orgs")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_rev_orgs_external_ref")),
    )
    with op.batch_alter_table("rev_orgs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rev_orgs_account_id"), ["account_id"], unique=False)

    op.create_table(
        "rev_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("external_ref", sa.String(length=255), nullable=True),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column(
            "phone_numbers",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "custom_fields",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("rev_org_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("is_verified", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("app_pk", sa.Integer(), nullable=True),
        sa.Column("sessions_revoked_at", openplug.db.base.UtcDateTime(), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_rev_users_account_id_accounts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["app_pk"], ["apps.id"], name=op.f("fk_rev_users_app_pk_apps"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rev_org_id"],
            ["rev_orgs.id"],
            name=op.f("fk_rev_users_rev_org_id_rev_orgs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rev_users")),
        sa.UniqueConstraint("external_ref", name=op.f("uq_rev_users_external_ref")),
    )
    with op.batch_alter_table("rev_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rev_users_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rev_users_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_rev_users_rev_org_id"), ["rev_org_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rev_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rev_users_rev_org_id"))
        batch_op.drop_index(batch_op.f("ix_rev_users_email"))
        batch_op.drop_index(batch_op.f("ix_rev_users_account_id"))

    op.drop_table("rev_users")
    with op.batch_alter_table("rev_orgs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rev_orgs_account_id"))

    op.drop_table("rev_orgs")
    op.drop_table("access_tokens")
    op.drop_table("instance")
    op.drop_table("dev_users")
    op.drop_table("custom_fragments")
    op.drop_table("custom_field_defs")
    op.drop_table("apps")
    op.drop_table("accounts")
