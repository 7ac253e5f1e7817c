"""The audit trail's one table."""

from sqlalchemy import Column, Index, Integer, String, Table

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_key", Integer, nullable=True),
    Column("via", String(16), nullable=False),
    Column("address", String(255), nullable=True),
    # What was changed, as the API names it (``TOKEN-4``, ``app_x``, ``REVU-9``).
    Column("target", String(255), nullable=False),
    Column("details", Json, nullable=False),
    Index("ix_audit_events_action", "action", "id"),
    **KEYS_NEVER_REUSED,
)
