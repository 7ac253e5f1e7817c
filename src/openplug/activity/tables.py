"""Tables of what a site tells openplug about its visitor's visit
(``plugSDK.trackEvent`` and ``addSessionProperties``), shown to agents
beside the visitor's conversations."""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

# The visitor's recent events, newest kept: each insert trims the user's
# oldest beyond ``activity.rules.MAX_EVENTS`` in the same transaction.
visitor_events = Table(
    "visitor_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("rev_user_id", Integer, ForeignKey("rev_users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(64), nullable=False),
    Column("properties", Json, nullable=False),
    Column("page_url", String(2048), nullable=True),
    Column("occurred_at", UtcDateTime, nullable=False),
    Index("ix_visitor_events_rev_user_id_id", "rev_user_id", "id"),
    **KEYS_NEVER_REUSED,
)

# One row per visitor: the session properties merged so far and the page
# the visitor was last seen on.
visitor_sessions = Table(
    "visitor_sessions",
    metadata,
    Column(
        "rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("properties", Json, nullable=False),
    Column("current_page", String(2048), nullable=True),
    Column("modified_at", UtcDateTime, nullable=False),
)
