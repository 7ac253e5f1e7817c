"""Recording what a site sends about its visitor (``trackEvent``,
``addSessionProperties``, the page they are on) and reading it back for
agents.

Each call is one short write transaction of its own (nothing is deferred,
so nothing goes through the outbox): the event row and the trim of the
visitor's oldest events beyond ``MAX_EVENTS`` commit together, so a
visitor never holds more than that many.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.activity.rules import (
    MAX_EVENTS,
    MAX_PROPERTIES,
    merged_session_properties,
)
from openplug.activity.tables import visitor_events, visitor_sessions
from openplug.db.base import utcnow
from openplug.errors import InvalidField
from openplug.runtime import Runtime


@dataclass(frozen=True)
class TrackedEvent:
    name: str
    properties: dict[str, Any]
    page_url: str | None
    occurred_at: datetime


@dataclass(frozen=True)
class VisitorActivity:
    events: list[TrackedEvent]  # newest first
    session_properties: dict[str, Any]
    current_page: str | None
    last_seen_at: datetime | None


async def record_event(
    runtime: Runtime,
    rev_user_key: int,
    name: str,
    properties: dict[str, Any],
    page_url: str | None,
) -> None:
    now = utcnow()
    async with runtime.db.write() as conn:
        await conn.execute(
            insert(visitor_events).values(
                rev_user_id=rev_user_key,
                name=name,
                properties=properties,
                page_url=page_url,
                occurred_at=now,
            )
        )
        await _trim(conn, rev_user_key)
        await _seen_on(conn, rev_user_key, page_url, now)


async def add_session_properties(
    runtime: Runtime, rev_user_key: int, properties: dict[str, Any], page_url: str | None
) -> dict[str, Any]:
    """The visitor's session properties after adding ``properties``."""
    now = utcnow()
    async with runtime.db.write() as conn:
        await _seen_on(conn, rev_user_key, page_url, now)
        stored = (
            await conn.execute(
                select(visitor_sessions.c.properties)
                .where(visitor_sessions.c.rev_user_id == rev_user_key)
                .with_for_update()
            )
        ).scalar_one()
        merged = merged_session_properties(stored, properties)
        if len(merged) > MAX_PROPERTIES:
            raise InvalidField(
                "properties",
                f"a visitor's session holds at most {MAX_PROPERTIES} properties "
                f"({len(merged)} with these); send null for a key to remove it",
            )
        if merged != stored:
            await conn.execute(
                update(visitor_sessions)
                .where(visitor_sessions.c.rev_user_id == rev_user_key)
                .values(properties=merged, modified_at=now)
            )
    return merged


async def note_page(runtime: Runtime, rev_user_key: int, page_url: str) -> None:
    """The visitor is on ``page_url`` now (the widget says so as pages load)."""
    async with runtime.db.write() as conn:
        await _seen_on(conn, rev_user_key, page_url, utcnow())


async def visitor_activity(
    conn: AsyncConnection, rev_user_key: int, *, limit: int
) -> VisitorActivity:
    rows = (
        await conn.execute(
            select(
                visitor_events.c.name,
                visitor_events.c.properties,
                visitor_events.c.page_url,
                visitor_events.c.occurred_at,
            )
            .where(visitor_events.c.rev_user_id == rev_user_key)
            .order_by(visitor_events.c.id.desc())
            .limit(limit)
        )
    ).all()
    session = (
        await conn.execute(
            select(
                visitor_sessions.c.properties,
                visitor_sessions.c.current_page,
                visitor_sessions.c.modified_at,
            ).where(visitor_sessions.c.rev_user_id == rev_user_key)
        )
    ).first()
    return VisitorActivity(
        events=[TrackedEvent(r.name, r.properties, r.page_url, r.occurred_at) for r in rows],
        session_properties=dict(session.properties) if session else {},
        current_page=session.current_page if session else None,
        last_seen_at=session.modified_at if session else None,
    )


async def _trim(conn: AsyncConnection, rev_user_key: int) -> None:
    oldest_kept = (
        await conn.execute(
            select(visitor_events.c.id)
            .where(visitor_events.c.rev_user_id == rev_user_key)
            .order_by(visitor_events.c.id.desc())
            .offset(MAX_EVENTS - 1)
            .limit(1)
        )
    ).scalar()
    if oldest_kept is not None:
        await conn.execute(
            delete(visitor_events).where(
                visitor_events.c.rev_user_id == rev_user_key, visitor_events.c.id < oldest_kept
            )
        )


async def _seen_on(
    conn: AsyncConnection, rev_user_key: int, page_url: str | None, now: datetime
) -> None:
    """Make sure the visitor's session row exists; with a page, it is the
    current one."""
    values: dict[str, Any] = {"modified_at": now}
    if page_url is not None:
        values["current_page"] = page_url
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        insert_(visitor_sessions)
        .values(rev_user_id=rev_user_key, properties={}, **values)
        .on_conflict_do_update(index_elements=["rev_user_id"], set_=values)
    )
