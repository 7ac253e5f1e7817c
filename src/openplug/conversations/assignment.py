"""Who owns a conversation (DevRev's ``owned_by``): a set of agents, empty
when nobody is assigned.

Owners are agents to whom the conversation is someone's job: the inbox's
"Mine" and "Unassigned" views, and the mails an agent who chose "only
mine" gets (see ``identity.dev_users.mail_preference``), are read from
here. These functions run inside the caller's transaction; changing
owners through ``service.create_conversation`` / ``update_conversation``
is what announces the change to every agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.conversations.tables import conversation_owners, conversations
from openplug.errors import InvalidId
from openplug.identity.tables import dev_users
from openplug.ids import DEV_USER, parse_int_key

# More owners than this is no assignment at all; DevRev sets no number, a
# bound keeps one request from writing without end.
MAX_OWNERS = 50


async def owners_of(conn: AsyncConnection, conversation_key: int) -> list[int]:
    """The conversation's owners' dev user keys, in key order (an unknown
    conversation has none)."""
    return (await owners_by_conversation(conn, [conversation_key]))[conversation_key]


async def owners_by_conversation(
    conn: AsyncConnection, keys: Sequence[int]
) -> dict[int, list[int]]:
    """Each conversation's owners, for a whole page in one query."""
    found: dict[int, list[int]] = {int(k): [] for k in keys}
    if not found:
        return found
    o = conversation_owners.c
    rows = await conn.execute(
        select(o.conversation_id, o.dev_user_id)
        .where(o.conversation_id.in_(found))
        .order_by(o.conversation_id, o.dev_user_id)
    )
    for r in rows:
        found[int(r.conversation_id)].append(int(r.dev_user_id))
    return found


async def resolve_dev_users(
    conn: AsyncConnection, ids: Sequence[str], field_name: str
) -> list[int]:
    """Dev user ids (DON or ``DEVU-n``) to keys, each checked to name an
    agent; the first that does not is a 400 naming it (``owned_by.set[1]``).
    Repeats count once."""
    keys = [parse_int_key(v, DEV_USER, f"{field_name}[{i}]") for i, v in enumerate(ids)]
    found = set(
        (await conn.execute(select(dev_users.c.id).where(dev_users.c.id.in_(keys)))).scalars()
    )
    for i, key in enumerate(keys):
        if key not in found:
            raise InvalidId(f"{field_name}[{i}]", f"no dev user has id {ids[i]}")
    return sorted(set(keys))


async def replace_owners(conn: AsyncConnection, key: int, owner_keys: Sequence[int]) -> bool:
    """Make ``owner_keys`` the conversation's owners; whether that changed
    anything. Only the difference is written."""
    before = set(await owners_of(conn, key))
    after = set(owner_keys)
    if before == after:
        return False
    o = conversation_owners.c
    if gone := before - after:
        await conn.execute(
            delete(conversation_owners).where(o.conversation_id == key, o.dev_user_id.in_(gone))
        )
    if added := after - before:
        await conn.execute(
            insert(conversation_owners),
            [{"conversation_id": key, "dev_user_id": k} for k in sorted(added)],
        )
    return True


def owned_by_any(owner_keys: Sequence[int]) -> Any:
    """A ``conversations`` filter: owned by at least one of these agents."""
    o = conversation_owners.c
    return conversations.c.id.in_(
        select(o.conversation_id).where(o.dev_user_id.in_(list(owner_keys)))
    )


def has_owner() -> Any:
    """A ``conversations`` filter: someone is assigned."""
    return exists().where(conversation_owners.c.conversation_id == conversations.c.id)
