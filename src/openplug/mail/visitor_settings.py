"""A visitor's mail settings (``tables.visitor_mail``): the address an
anonymous visitor left, and whether they want mail at all."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.mail.tables import visitor_mail
from openplug.runtime import Runtime


async def set_subscribed(conn: AsyncConnection, rev_user_key: int, subscribed: bool) -> None:
    if (
        await conn.execute(select(rev_users.c.id).where(rev_users.c.id == rev_user_key))
    ).first() is None:
        return  # erased meanwhile: nothing to keep
    when = None if subscribed else utcnow()
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(visitor_mail).values(rev_user_id=rev_user_key, unsubscribed_at=when)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=["rev_user_id"], set_={"unsubscribed_at": when})
    )


async def unsubscribe(runtime: Runtime, rev_user_key: int) -> None:
    async with runtime.db.write() as conn:
        await set_subscribed(conn, rev_user_key, False)
