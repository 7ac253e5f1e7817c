"""custom field options: DevRev's per-type descriptor options (int bounds,
text lengths and patterns, array sizes, default_value)

Revision ID: 0017
Revises: 0015
Create Date: 2026-12-03 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import openplug.db.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("custom_field_defs") as batch:
        batch.add_column(
            sa.Column("options", openplug.db.base.Json, nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("custom_field_defs") as batch:
        batch.drop_column("options")
