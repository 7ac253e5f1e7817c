"""``rev-users.merge``: an agent folds one rev user (the secondary) into
another (the primary, kept), as DevRev's call does.

The secondary's conversations, the messages it wrote and its unsent files
move to the primary (``conversations.service.move_member_conversations``,
the same move the widget makes when a visitor identifies); the secondary
stays as a ``merged`` row, recorded in ``visitor_merges`` so an erasure of
the primary takes it along and its session tokens stop working. Its
``external_ref`` is cleared, so the ref is free again.

DevRev's rule holds here too: a user a web page named without a session
token (``plugSDK.init({identity})``, unverified, with a ref) is never
merged with a verified one, in either direction. Only the primary decides
the account; nothing of the secondary's traits is copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.conversations.events import ConversationChange, publish_changes
from openplug.crm.changes import CrmChange, run_crm_hooks_async
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.errors import InvalidField, InvalidId
from openplug.ids import REV_USER, display_id
from openplug.realtime import announce_revoked
from openplug.runtime import Runtime
from openplug.widget.service import hand_over_conversations
from openplug.widget.tables import visitor_merges


@dataclass(frozen=True)
class UserMerge:
    primary_key: int
    secondary_key: int
    conversations_moved: int
    # False: this merge was made before; nothing changed.
    merged: bool


def _unverified_page_user(row: Any) -> bool:
    return not row.is_verified and row.external_ref is not None


async def _locked(conn: AsyncConnection, keys: tuple[int, int]) -> dict[int, Any]:
    """Both rows, locked in key order (PostgreSQL; SQLite's write transaction
    is exclusive already): two merges of the same users at once run one
    after the other, and crossed merges (a into b, b into a) cannot
    deadlock."""
    rows = await conn.execute(
        select(rev_users.c.id, rev_users.c.state, rev_users.c.is_verified,
               rev_users.c.external_ref)
        .where(rev_users.c.id.in_(sorted(keys)))
        .order_by(rev_users.c.id)
        .with_for_update()
    )  # fmt: skip
    return {int(r.id): r for r in rows}


async def merge_rev_users(
    runtime: Runtime, primary_key: int, secondary_key: int, *, actor: Actor
) -> UserMerge:
    if primary_key == secondary_key:
        raise InvalidField("secondary_user", "is the primary user: nobody merges into themselves")
    changes: list[ConversationChange]
    async with runtime.db.write() as conn:
        found = await _locked(conn, (primary_key, secondary_key))
        primary, secondary = found.get(primary_key), found.get(secondary_key)
        if primary is None or primary.state != "active":
            raise InvalidId(
                "primary_user", f"no rev user has id {display_id(REV_USER, primary_key)}"
            )
        if secondary is None or secondary.state not in ("active", "merged"):
            raise InvalidId(
                "secondary_user", f"no rev user has id {display_id(REV_USER, secondary_key)}"
            )
        done = (
            await conn.execute(
                select(visitor_merges.c.identified_rev_user_id).where(
                    visitor_merges.c.anonymous_rev_user_id == secondary_key
                )
            )
        ).scalar()
        if done is not None:
            if int(done) == primary_key:
                return UserMerge(primary_key, secondary_key, 0, merged=False)
            raise InvalidField("secondary_user", "was merged into another user already")
        for field, row, other in (("primary_user", primary, secondary),
                                  ("secondary_user", secondary, primary)):  # fmt: skip
            if _unverified_page_user(row) and other.is_verified:
                raise InvalidField(
                    field,
                    "an unverified user (named by a web page without a session token) is never "
                    "merged with a verified one",
                )
        now = utcnow()
        changes = await hand_over_conversations(conn, secondary_key, primary_key, now)
        await conn.execute(
            update(rev_users)
            .where(rev_users.c.id == secondary_key)
            # Its ref is freed: the site's next session for that ref makes a
            # new user rather than reviving a merged one.
            .values(state="merged", external_ref=None, modified_at=now)
        )
        await conn.execute(
            update(rev_users).where(rev_users.c.id == primary_key).values(modified_at=now)
        )
        await record(
            conn, actor, "rev_user.merged", display_id(REV_USER, secondary_key),
            {"into": display_id(REV_USER, primary_key), "conversations_moved": len(changes)},
        )  # fmt: skip
        # To a DevRev receiver the secondary is gone and the primary changed.
        await run_crm_hooks_async(
            runtime.crm_hooks,
            conn,
            [CrmChange("deleted", "rev_user", secondary_key),
             CrmChange("updated", "rev_user", primary_key)],
        )  # fmt: skip
    publish_changes(runtime.change_listeners, changes)
    await announce_revoked(runtime.broker, "rev_user", secondary_key, "merged into another user")
    return UserMerge(primary_key, secondary_key, len(changes), merged=True)
