"""A visitor's own mail settings, as the widget shows and changes them:
where replies go, and whether they go at all.

An address on file is the email trait the site (or an agent) set, else the
address a visitor left in the widget ("Get replies by email"). The latter is
an unverified claim: it is stored apart (``visitor_mail.email_claim``),
only ever mailed to, and never written to ``rev_users.email``, looked up,
or used to identify or merge anyone. While the visitor has an email trait
the widget cannot change where replies go; the site's address wins.

Mail goes to an address on file unless the visitor unsubscribed (the
one-click link in every mail, or the widget's toggle); the widget undoes an
unsubscribe. Leaving an address asks for replies by email, so it
subscribes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.errors import InvalidField, NotFound
from openplug.mail.tables import visitor_mail
from openplug.runtime import Runtime

AddressSource = Literal["email_trait", "claim"]
MAX_CLAIM_CHARS = 254


@dataclass(frozen=True)
class VisitorMailSettings:
    address: str | None
    source: AddressSource | None
    subscribed: bool


def address_on_file(email_trait: str | None, claim: str | None) -> str | None:
    """Where a visitor's mail goes: the trait, else their own claim."""
    return email_trait or claim or None


def masked(address: str) -> str:
    """``a…@example.com``: enough for the visitor to recognise their
    address, not enough to read it off a shared screen."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}"


def settings_json(settings: VisitorMailSettings) -> dict[str, Any]:
    return {
        "address": None if settings.address is None else masked(settings.address),
        "address_source": settings.source,
        "subscribed": settings.subscribed,
    }


async def visitor_mail_settings(conn: AsyncConnection, rev_user_key: int) -> VisitorMailSettings:
    row = (
        await conn.execute(
            select(rev_users.c.email, visitor_mail.c.email_claim, visitor_mail.c.unsubscribed_at)
            .select_from(
                rev_users.outerjoin(visitor_mail, visitor_mail.c.rev_user_id == rev_users.c.id)
            )
            .where(rev_users.c.id == rev_user_key)
        )
    ).first()
    if row is None:
        raise NotFound("visitor not found")
    source: AddressSource | None = (
        "email_trait" if row.email else "claim" if row.email_claim else None
    )
    return VisitorMailSettings(
        address=address_on_file(row.email, row.email_claim),
        source=source,
        subscribed=row.unsubscribed_at is None,
    )


def normalise_claim(value: str, field_name: str = "email") -> str | None:
    """A checked address ("" withdraws the claim); the domain is not looked
    up (the claim is unverified either way)."""
    text = value.strip()
    if not text:
        return None
    if len(text) > MAX_CLAIM_CHARS:
        raise InvalidField(field_name, f"{field_name}: at most {MAX_CLAIM_CHARS} characters")
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidField(field_name, f"{field_name}: not a valid email address: {e}") from None


async def update_visitor_mail(
    runtime: Runtime,
    rev_user_key: int,
    *,
    email: str | None = None,
    subscribed: bool | None = None,
) -> VisitorMailSettings:
    """Change what was sent (None: unchanged) and return the settings.
    ``email`` is the visitor's claim; ``subscribed`` False unsubscribes,
    True undoes an unsubscribe."""
    claim = normalise_claim(email) if email is not None else None
    now = utcnow()
    async with runtime.db.write() as conn:
        current = await visitor_mail_settings(conn, rev_user_key)
        values: dict[str, Any] = {}
        if email is not None:
            if current.source == "email_trait":
                raise InvalidField(
                    "email", "replies go to the email address this site has for you; "
                    "it cannot be changed here"
                )  # fmt: skip
            values.update(email_claim=claim, claimed_at=now if claim else None)
            if claim and subscribed is None:
                values["unsubscribed_at"] = None
        if subscribed is not None:
            values["unsubscribed_at"] = None if subscribed else now
            if not subscribed and not current.subscribed:
                del values["unsubscribed_at"]  # keep when it was first asked
        if values:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            stmt = insert(visitor_mail).values(rev_user_id=rev_user_key, **values)
            await conn.execute(
                stmt.on_conflict_do_update(index_elements=["rev_user_id"], set_=values)
            )
        return await visitor_mail_settings(conn, rev_user_key)
