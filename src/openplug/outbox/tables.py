"""The outbox's one table."""

from sqlalchemy import Column, Index, Integer, String, Table

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

outbox_jobs = Table(
    "outbox_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    # Which handler runs it, e.g. "mail.send".
    Column("kind", String(32), nullable=False),
    # While the job waits: a second job for the same thing is not made (a
    # burst of replies is one digest). NULL once the job has finished, so
    # the next burst gets a job of its own.
    Column("pending_key", String(255), nullable=True, unique=True),
    Column("payload", Json, nullable=False),
    # pending -> done | failed | dropped
    Column("state", String(16), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False),
    # The process that holds the job, and until when: a lease, so a job
    # whose process died is taken over once it runs out.
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Index("ix_outbox_jobs_due", "state", "due_at"),
    **KEYS_NEVER_REUSED,
)
