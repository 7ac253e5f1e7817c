"""Dev users: the support agents and admins of this deployment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Row, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.db.base import utcnow
from openplug.errors import Conflict, InvalidField, NotFound
from openplug.identity.passwords import hash_password
from openplug.identity.tables import dev_users

Role = Literal["admin", "agent"]


@dataclass(frozen=True)
class DevUser:
    pk: int
    email: str
    display_name: str
    role: Role
    created_at: datetime


def _from_row(row: Row[Any]) -> DevUser:
    m = row._mapping
    return DevUser(m["id"], m["email"], m["display_name"], m["role"], m["created_at"])


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
