"""Tables of the customer side: rev users, workspaces (rev orgs), accounts
and the declared custom fields."""

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("external_ref", String(255), nullable=True, unique=True),
    Column("display_name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("tier", String(255), nullable=True),
    Column("domains", Json, nullable=False),
    Column("websites", Json, nullable=False),
    Column("phone_numbers", Json, nullable=False),
    Column("custom_fields", Json, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)

rev_orgs = Table(
    "rev_orgs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("external_ref", String(255), nullable=True, unique=True),
    Column("display_name", String(255), nullable=False),
    Column("description", Text, nullable=True),
    Column("tier", String(255), nullable=True),
    Column("domain", String(255), nullable=True),
    Column("phone_numbers", Json, nullable=False),
    Column("custom_fields", Json, nullable=False),
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), index=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)

rev_users = Table(
    "rev_users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("external_ref", String(255), nullable=True, unique=True),
    Column("display_name", String(255), nullable=False),
    Column("email", String(254), nullable=True, index=True),
    Column("phone_numbers", Json, nullable=False),
    Column("description", Text, nullable=True),
    Column("custom_fields", Json, nullable=False),
    Column("rev_org_id", Integer, ForeignKey("rev_orgs.id", ondelete="SET NULL"), index=True),
    # Only for a user attached straight to an account (two levels); a user in
    # a workspace belongs to the workspace's account, so it is not stored twice.
    Column("account_id", Integer, ForeignKey("accounts.id", ondelete="SET NULL"), index=True),
    Column("is_verified", Boolean, nullable=False),
    Column("state", String(16), nullable=False),
    # Anonymous users belong to the app whose widget made them.
    Column("app_pk", Integer, ForeignKey("apps.id", ondelete="CASCADE"), nullable=True),
    # Session tokens issued before this instant are refused.
    Column("sessions_revoked_at", UtcDateTime, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    **KEYS_NEVER_REUSED,
)

custom_fragments = Table(
    "custom_fragments",
    metadata,
    Column("leaf_type", String(16), primary_key=True),
    Column("description", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
)

custom_field_defs = Table(
    "custom_field_defs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("leaf_type", String(16), nullable=False),
    Column("name", String(64), nullable=False),
    Column("field_type", String(16), nullable=False),
    Column("base_type", String(16), nullable=True),
    Column("allowed_values", Json, nullable=True),
    Column("is_required", Boolean, nullable=False),
    Column("description", Text, nullable=True),
    Column("is_deleted", Boolean, nullable=False),
    # DevRev's field flags: kept and returned; ``is_immutable`` is enforced
    # (a stored value cannot change), the others describe the field.
    Column("is_filterable", Boolean, nullable=False, server_default=false()),
    Column("is_pii", Boolean, nullable=False, server_default=false()),
    Column("is_immutable", Boolean, nullable=False, server_default=false()),
    Column("ui", Json, nullable=True),
    # DevRev's per-type options (``gt``, ``max_len``, ``pattern``,
    # ``min_items``, ``default_value`` ...), only those set: the values'
    # checks and the default a new record gets.
    Column("options", Json, nullable=False, server_default="{}"),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    UniqueConstraint("leaf_type", "name"),
    **KEYS_NEVER_REUSED,
)
