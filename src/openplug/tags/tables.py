"""The org's tags."""

from sqlalchemy import Column, Integer, String, Table

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

tags = Table(
    "tags",
    metadata,
    Column("id", Integer, primary_key=True),
    # Unique: DevRev guarantees it, and the index is what settles two
    # creates (or renames) racing for one name.
    Column("name", String(255), nullable=False, unique=True),
    Column("description", String(4096), nullable=True),
    Column("allowed_values", Json, nullable=False),
    Column("created_by", Integer, nullable=True),
    Column("modified_by", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)
