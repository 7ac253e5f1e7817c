"""Tables of the widget's visitors: anonymous credentials and merges."""

from sqlalchemy import Column, ForeignKey, Integer, String, Table

from openplug.db.base import KEYS_NEVER_REUSED, UtcDateTime, metadata

# What a browser keeps to stay the same anonymous visitor across reloads and
# tabs. Stored only as a keyed digest, like AATs.
anonymous_credentials = Table(
    "anonymous_credentials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("app_pk", Integer, ForeignKey("apps.id", ondelete="CASCADE"), nullable=False),
    Column(
        "rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)

# The audit record of an anonymous visitor merged into an identified one;
# the primary key makes a merge happen at most once.
visitor_merges = Table(
    "visitor_merges",
    metadata,
    Column(
        "anonymous_rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "identified_rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("conversations_moved", Integer, nullable=False),
    Column("merged_at", UtcDateTime, nullable=False),
)
