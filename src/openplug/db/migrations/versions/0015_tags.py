"""tags: DevRev's tags.*, which conversations name by id

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 18:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=4096), nullable=True),
        sa.Column("allowed_values", openplug.db.base.Json, nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("modified_by", sa.Integer(), nullable=True),
        sa.Column("created_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.Column("modified_at", openplug.db.base.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("tags")
