"""Webhooks and the log of what was delivered to them."""

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False),
    # Kept as given: every delivery is signed with it and DevRev's
    # ``webhooks.get`` returns it.
    Column("secret", String(64), nullable=False),
    Column("event_types", Json, nullable=False),
    # deactivated by an admin: ``inactive``, whatever ``verified`` says
    Column("enabled", Boolean, nullable=False),
    # The endpoint echoed the current challenge for the current url and secret.
    Column("verified", Boolean, nullable=False),
    # The challenge of the handshake under way; NULL once verified.
    Column("challenge", String(64), nullable=True),
    Column("created_by", Integer, nullable=True),
    Column("modified_by", Integer, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
    # The event's id suffix: the same on every attempt, so receivers drop repeats.
    Column("event_uid", String(32), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    # What the event is about, rendered at the first attempt (and kept, so
    # a retry sends the same event); deleted objects carry their body here
    # from the start.
    Column("object_key", Integer, nullable=True),
    Column("body", Json, nullable=True),
    # pending -> delivered | failed | dropped
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("last_attempt_at", UtcDateTime, nullable=True),
    Column("delivered_at", UtcDateTime, nullable=True),
    Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    **KEYS_NEVER_REUSED,
)
