"""Writing and reading the audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit.actor import Actor
from openplug.audit.tables import audit_events
from openplug.db.base import utcnow


async def record(
    conn: AsyncConnection,
    actor: Actor,
    action: str,
    target: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Add one event inside the caller's transaction. ``details`` must never
    hold a secret: names, ids, hints and settings only."""
    await conn.execute(
        insert(audit_events).values(
            at=utcnow(),
            action=action,
            actor_kind=actor.kind,
            actor_key=actor.key,
            via=actor.via,
            address=actor.address,
            target=target,
            details=details or {},
        )
    )


async def list_events(
    conn: AsyncConnection, *, before: int | None, limit: int, action: str | None
) -> list[Any]:
    """Newest first; ``before`` is the key the previous page ended at."""
    query = select(audit_events).order_by(audit_events.c.id.desc()).limit(limit)
    if before is not None:
        query = query.where(audit_events.c.id < before)
    if action is not None:
        query = query.where(audit_events.c.action == action)
    return [r._mapping for r in (await conn.execute(query)).all()]
