"""Dev users: the support agents and admins of this deployment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Row, false, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.db.base import utcnow
from openplug.db.pages import Mode, Page, fetch_page, parse_sort_by
from openplug.errors import Conflict, InvalidField, NotFound
from openplug.identity.passwords import hash_password
from openplug.identity.tables import dev_users

Role = Literal["admin", "agent"]

MailPreference = Literal["all", "mine", "none"]
"""Which conversations an agent is mailed about while no inbox of theirs is
open: ``all`` of them, only ``mine`` (those they own, see
``conversations.assignment.owners_of``), or ``none``.

The default is ``all``: a question nobody hears about is the failure these
mails exist to prevent, and a new deployment has no owners yet, so with
``mine`` as the default a visitor's first question would reach nobody.
An agent who finds it too much chooses less; nobody has to opt in to hear
about new work."""
MAIL_PREFERENCES: tuple[MailPreference, ...] = ("all", "mine", "none")
DEFAULT_MAIL_PREFERENCE: MailPreference = "all"


@dataclass(frozen=True)
class DevUser:
    pk: int
    email: str
    display_name: str
    role: Role
    created_at: datetime
    mail_notifications: MailPreference = DEFAULT_MAIL_PREFERENCE


def _preference(value: object) -> MailPreference:
    # A value this version does not know (written by a newer one) reads as
    # the default: the safe side is hearing about work, not silence.
    for known in MAIL_PREFERENCES:
        if value == known:
            return known
    return DEFAULT_MAIL_PREFERENCE


def _from_row(row: Row[Any]) -> DevUser:
    m = row._mapping
    return DevUser(
        m["id"], m["email"], m["display_name"], m["role"], m["created_at"],
        _preference(m["mail_notifications"]),
    )  # fmt: skip


async def create_dev_user(
    conn: AsyncConnection,
    email: str,
    display_name: str | None,
    role: Role,
    *,
    password: str | None = None,
    actor: Actor,
) -> DevUser:
    """A new agent, with their inbox password when one is given. An address
    already taken, in any case, is a conflict: never the existing agent."""
    try:
        normalised = validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as e:
        raise InvalidField("email", str(e)) from None
    try:
        async with conn.begin_nested():
            row = (
                await conn.execute(
                    dev_users.insert()
                    .values(
                        email=normalised,
                        display_name=display_name or normalised.split("@")[0],
                        role=role,
                        password_hash=None if password is None else hash_password(password),
                        created_at=utcnow(),
                    )
                    .returning(*dev_users.c)
                )
            ).one()
    except IntegrityError:
        raise Conflict(f"an agent with email {normalised} already exists") from None
    user = _from_row(row)
    await record(
        conn, actor, "agent.created", f"DEVU-{user.pk}",
        {"email": user.email, "role": user.role, "password_set": password is not None},
    )  # fmt: skip
    return user


def _with_email(email: str) -> Any:
    """People type their address in any case; the domain part is
    case-insensitive and nobody has two agents differing only in case."""
    return select(dev_users).where(func.lower(dev_users.c.email) == email.strip().lower())


async def get_dev_user_by_email(conn: AsyncConnection, email: str) -> DevUser:
    row = (await conn.execute(_with_email(email))).first()
    if row is None:
        raise NotFound(f"no agent with email {email}")
    return _from_row(row)


async def get_dev_user(conn: AsyncConnection, pk: int) -> DevUser:
    row = (await conn.execute(select(dev_users).where(dev_users.c.id == pk))).first()
    if row is None:
        raise NotFound("agent not found")
    return _from_row(row)


async def list_dev_users(conn: AsyncConnection) -> list[DevUser]:
    rows = (await conn.execute(select(dev_users).order_by(dev_users.c.id))).all()
    return [_from_row(r) for r in rows]


async def set_password(
    conn: AsyncConnection, email: str, password: str, *, actor: Actor
) -> DevUser:
    user = await get_dev_user_by_email(conn, email)
    await conn.execute(
        dev_users.update()
        .where(dev_users.c.id == user.pk)
        .values(password_hash=hash_password(password))
    )
    await record(conn, actor, "agent.password_changed", f"DEVU-{user.pk}", {"email": user.email})
    return user


async def password_hash_of(conn: AsyncConnection, email: str) -> tuple[DevUser, str | None] | None:
    """The agent and their stored hash (None: no password set), for sign-in."""
    row = (await conn.execute(_with_email(email))).first()
    if row is None:
        return None
    return _from_row(row), row._mapping["password_hash"]


async def mail_preference(conn: AsyncConnection, dev_user_key: int) -> MailPreference:
    """The agent's choice of notification mails (see ``MailPreference``);
    an unknown agent is a ``NotFound``."""
    value = (
        await conn.execute(
            select(dev_users.c.mail_notifications).where(dev_users.c.id == dev_user_key)
        )
    ).first()
    if value is None:
        raise NotFound("agent not found")
    return _preference(value[0])


async def set_mail_preference(
    conn: AsyncConnection, dev_user_key: int, preference: MailPreference
) -> DevUser:
    """An agent's own choice; not an access change, so not audited."""
    if preference not in MAIL_PREFERENCES:
        raise InvalidField("mail_notifications", f"must be one of {', '.join(MAIL_PREFERENCES)}")
    row = (
        await conn.execute(
            dev_users.update()
            .where(dev_users.c.id == dev_user_key)
            .values(mail_notifications=preference)
            .returning(*dev_users.c)
        )
    ).first()
    if row is None:
        raise NotFound("agent not found")
    return _from_row(row)


async def list_dev_users_page(
    conn: AsyncConnection, *, after_key: int | None, limit: int
) -> tuple[list[DevUser], int | None]:
    """Oldest first (the order agents were added, which a picker keeps
    stable); returns the key to continue after, if more follow."""
    query = select(dev_users).order_by(dev_users.c.id).limit(limit + 1)
    if after_key is not None:
        query = query.where(dev_users.c.id > after_key)
    users = [_from_row(r) for r in (await conn.execute(query)).all()]
    if len(users) > limit:
        return users[:limit], users[limit - 1].pk
    return users, None


async def list_dev_users_listing(
    conn: AsyncConnection,
    *,
    emails: Sequence[str] | None,
    created_after: datetime | None,
    created_before: datetime | None,
    match_none: bool,
    sort_by: Sequence[str] | None,
    cursor: str | None,
    mode: Mode | None,
    limit: int,
) -> tuple[list[DevUser], Page]:
    """dev-users.list with DevRev's filters and paging; oldest first unless
    ``sort_by`` says otherwise. Agents are never modified in a way openplug
    records, so their ``modified_date`` is their ``created_date``."""
    t = dev_users.c
    keys = parse_sort_by(
        sort_by, {"created_date": t.created_at, "modified_date": t.created_at,
                  "display_name": t.display_name}, t.id, default_descending=False,
    )  # fmt: skip
    query = select(dev_users)
    if emails is not None:
        query = query.where(func.lower(t.email).in_([e.lower() for e in emails]))
    if created_after is not None:
        query = query.where(t.created_at >= created_after)
    if created_before is not None:
        query = query.where(t.created_at <= created_before)
    if match_none:
        query = query.where(false())
    page = await fetch_page(conn, query, keys, cursor=cursor, mode=mode, limit=limit)
    return [_from_mapping(r) for r in page.rows], page


def _from_mapping(m: Any) -> DevUser:
    return DevUser(
        m["id"], m["email"], m["display_name"], m["role"], m["created_at"],
        _preference(m["mail_notifications"]),
    )  # fmt: skip


async def set_display_name(conn: AsyncConnection, pk: int, display_name: str) -> DevUser:
    await conn.execute(
        update(dev_users).where(dev_users.c.id == pk).values(display_name=display_name)
    )
    return await get_dev_user(conn, pk)
