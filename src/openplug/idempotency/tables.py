"""The answers to writes made with an ``Idempotency-Key``."""

from sqlalchemy import Column, Index, Integer, String, Table, UniqueConstraint

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("id", Integer, primary_key=True),
    # Whose key it is: one caller's keys never meet another's (e.g.
    # "app:3:rev_user:17", "dev_user:2").
    Column("scope", String(96), nullable=False),
    Column("key", String(255), nullable=False),
    # The call and a digest of its parameters: the same key sent with other
    # parameters is refused, not answered with another call's answer.
    Column("route", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("scope", "key"),
    Index("ix_idempotency_keys_created_at", "created_at"),
    **KEYS_NEVER_REUSED,
)
