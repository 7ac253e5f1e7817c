"""Storing a composed mail: its row (what Settings -> Email lists and the
send job reads), its send job when there is an SMTP server to send to, and
how far its recipient has now been mailed, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.db.base import utcnow
from openplug.mail.compose import Composed
from openplug.mail.config import MailConfig
from openplug.mail.tables import outgoing_mails
from openplug.outbox import enqueue

SEND = "mail.send"


async def store_mail(
    conn: AsyncConnection,
    config: MailConfig,
    composed: Composed,
    *,
    kind: str,
    conversation_key: int,
    recipient: str,
    rev_user_key: int | None = None,
    dev_user_key: int | None = None,
) -> int:
    key = (
        await conn.execute(
            outgoing_mails.insert()
            .values(
                message_id=composed.message_id,
                kind=kind,
                conversation_id=conversation_key,
                rev_user_id=rev_user_key,
                dev_user_id=dev_user_key,
                recipient=recipient,
                subject=composed.subject,
                raw=composed.raw,
                state="queued" if config.smtp is not None else "held",
                created_at=utcnow(),
            )
            .returning(outgoing_mails.c.id)
        )
    ).scalar_one()
    if config.smtp is not None:
        await enqueue(conn, SEND, {"mail": int(key)})
    return int(key)


async def advance_mark(
    conn: AsyncConnection, marks: Table, keys: dict[str, Any], through: int
) -> None:
    """Record that the recipient named by ``keys`` has been mailed up to
    message ``through`` of the conversation."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(marks).values(**keys, mailed_through_seq=through)
    await conn.execute(
        stmt.on_conflict_do_update(index_elements=list(keys), set_={"mailed_through_seq": through})
    )
