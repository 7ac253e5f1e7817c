"""The artifacts table: one row per file, from ``artifacts.prepare`` until
the file is erased. The bytes live in the storage backend under
``storage_key`` (one object per variant)."""

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from openplug.db.base import KEYS_NEVER_REUSED, UtcDateTime, metadata

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", Integer, primary_key=True),
    # prepared -> uploaded (bytes stored, type checked) -> attached to a
    # message (message_id set). Never back.
    Column("state", String(16), nullable=False),
    Column("file_name", String(255), nullable=False),
    # What the uploader said (artifacts.prepare's file_type); never trusted.
    Column("declared_type", String(255), nullable=True),
    # Detected from the bytes at upload; what the file is served as.
    Column("content_type", String(127), nullable=True),
    Column("size", Integer, nullable=True),
    # Set by the upload that won (random, so two uploads at once never
    # write the same objects).
    Column("storage_key", String(64), nullable=True, unique=True),
    Column("width", Integer, nullable=True),
    Column("height", Integer, nullable=True),
    # A re-encoded copy safe to show inline, and a thumbnail (images only).
    Column("has_inline", Boolean, nullable=False),
    Column("has_thumbnail", Boolean, nullable=False),
    # Exactly one uploader: a visitor (from one app's widget), an agent, or
    # nobody for a file that came by mail (its message says who).
    Column(
        "uploader_rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column(
        "uploader_dev_user_id",
        Integer,
        ForeignKey("dev_users.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("app_pk", Integer, ForeignKey("apps.id", ondelete="SET NULL"), nullable=True),
    Column(
        "message_id",
        Integer,
        ForeignKey("messages.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    # The message's conversation, kept beside it so that who may read a
    # file is one lookup.
    Column(
        "conversation_id",
        Integer,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=True,
        index=True,
    ),
    Column("created_at", UtcDateTime, nullable=False),
    Column("uploaded_at", UtcDateTime, nullable=True),
    Column("attached_at", UtcDateTime, nullable=True),
    CheckConstraint(
        "uploader_rev_user_id IS NULL OR uploader_dev_user_id IS NULL",
        name="ck_artifacts_one_uploader",
    ),
    Index("ix_artifacts_orphans", "message_id", "created_at"),
    **KEYS_NEVER_REUSED,
)
