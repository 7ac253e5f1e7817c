"""Tables of the dev side: the deployment's org, apps, agents and tokens."""

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, func

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

# One row: this deployment is one dev org.
instance = Table(
    "instance",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)

apps = Table(
    "apps",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("app_id", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("allowed_origins", Json, nullable=False),
    Column("require_identification", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    # How long an agent's reply may wait unseen before the visitor is mailed.
    Column("mail_delay_seconds", Integer, nullable=False, server_default="120"),
    # Where a visitor's mail links back to; NULL: the first allowed origin.
    Column("site_url", String(2048), nullable=True),
    # Availability (openplug.availability): the IANA zone office hours are
    # in; the weekly hours, NULL meaning always open; the expected reply
    # time the widget shows ("hour": "Typically replies within an hour");
    # the message posted once per conversation outside office hours.
    Column("time_zone", String(64), nullable=False, server_default="UTC"),
    Column("office_hours", Json, nullable=True),
    Column("reply_time", String(16), nullable=True),
    Column("away_message", Text, nullable=True),
    **KEYS_NEVER_REUSED,
)

dev_users = Table(
    "dev_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(254), nullable=False),
    Column("display_name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(255), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    # Which conversations the agent is mailed about (see
    # ``identity.dev_users.MailPreference`` for the values and the default).
    Column("mail_notifications", String(8), nullable=False, server_default="all"),
    **KEYS_NEVER_REUSED,
)
# One agent per address whatever its case: sign-in looks emails up
# case-insensitively, so two rows differing in case would be one person's
# credentials answering for another.
Index("ux_dev_users_email_lower", func.lower(dev_users.c.email), unique=True)

# PATs and AATs share one mechanism: a digest, a hint, expiry, revocation.
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_id", String(64), nullable=False, unique=True),
    Column("kind", String(8), nullable=False),
    Column("digest", String(64), nullable=False, unique=True),
    Column("token_hint", String(255), nullable=False),
    Column("dev_user_id", Integer, ForeignKey("dev_users.id", ondelete="CASCADE"), nullable=False),
    Column("app_pk", Integer, ForeignKey("apps.id", ondelete="CASCADE"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Column("last_used_at", UtcDateTime, nullable=True),
    **KEYS_NEVER_REUSED,
)

# Session tokens ended before their expiry (widget logout), by jti. A row is
# useless once the token would have expired anyway, and is then deleted.
revoked_sessions = Table(
    "revoked_sessions",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)
