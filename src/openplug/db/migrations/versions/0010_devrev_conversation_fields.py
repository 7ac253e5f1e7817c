"""DevRev's fields: conversations' description, tags and custom fields;
custom field flags (is_filterable, is_pii, is_immutable, ui)

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
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tags", _JSON, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("custom_fields", _JSON, nullable=False, server_default="{}"))
    with op.batch_alter_table("custom_field_defs") as batch:
        for flag in ("is_filterable", "is_pii", "is_immutable"):
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
        batch.add_column(sa.Column("ui", _JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("custom_field_defs") as batch:
        for column in ("ui", "is_immutable", "is_pii", "is_filterable"):
            batch.drop_column(column)
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("custom_fields")
        batch.drop_column("tags")
        batch.drop_column("description")
