"""conversations: DevRev's description, tags and custom fields

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("tags", _JSON, nullable=False, server_default="[]")
        )
        batch.add_column(
            sa.Column("custom_fields", _JSON, nullable=False, server_default="{}")
        )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("custom_fields")
        batch.drop_column("tags")
        batch.drop_column("description")
