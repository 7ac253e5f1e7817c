"""One person's data as a machine-readable file: ``rev-users.personal-data.export``.

Everything openplug holds about the rev user, in the API's own shapes so a
reader needs no other documentation: the profile (traits, custom fields),
their workspace and account, the anonymous identities merged into them,
and every conversation they are in with all of its messages, oldest first.
Files: the metadata of every file they uploaded (``files``), each with a
signed download link bound to that file (``artifacts.locate``'s kind,
valid for ``EXPORT_LINK_SECONDS``, a week): the export is a JSON document for
whoever asked on the person's behalf, and the bytes stay one request away
instead of inflating it; the files in their conversations are listed in
each message's ``artifacts``. Never a secret: anonymous credentials and
session tokens are listed by when they were made, not by value (only
digests are stored anyway).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.activity.rules import MAX_EVENTS
from openplug.activity.service import TrackedEvent, visitor_activity
from openplug.artifacts.service import Links, artifacts_of_rev_users, summary_json
from openplug.conversations import visibility as seen
from openplug.conversations.render import ConversationRenderer
from openplug.conversations.tables import conversation_members, conversations, messages
from openplug.crm import records
from openplug.crm.tables import rev_users
from openplug.db.base import rfc3339, utcnow
from openplug.ids import CONVERSATION, REV_USER, display_id
from openplug.widget.tables import anonymous_credentials, visitor_merges

FORMAT = "openplug.personal-data/1"
EXPORT_LINK_SECONDS = 7 * 24 * 3600
Json = dict[str, Any]


async def export_rev_user(
    conn: AsyncConnection, org_id: str, id_value: str, links: Links | None = None
) -> Json:
    row = await records.get_row(conn, records.REV_USERS, id_value)
    key = int(row["id"])
    renderer = records.Renderer(conn, org_id)
    (profile,) = await renderer.rev_users([row])
    workspace = account = None
    if profile.get("rev_org") is not None:
        (workspace,) = await renderer.rev_orgs(
            [await records.get_row(conn, records.REV_ORGS, profile["rev_org"]["id"])]
        )
    if profile.get("account") is not None:
        (account,) = await renderer.accounts(
            [await records.get_row(conn, records.ACCOUNTS, profile["account"]["id"])]
        )

    merged = (
        await conn.execute(
            select(visitor_merges, rev_users.c.display_name, rev_users.c.created_at)
            .join(rev_users, rev_users.c.id == visitor_merges.c.anonymous_rev_user_id)
            .where(visitor_merges.c.identified_rev_user_id == key)
        )
    ).all()
    identities = [key, *(int(m.anonymous_rev_user_id) for m in merged)]
    credentials = (
        await conn.execute(
            select(anonymous_credentials.c.rev_user_id, anonymous_credentials.c.created_at).where(
                anonymous_credentials.c.rev_user_id.in_(identities)
            )
        )
    ).all()
    return {
        "format": FORMAT,
        "exported_at": rfc3339(utcnow()),
        "rev_user": profile,
        "rev_org": workspace,
        "account": account,
        "anonymous_identities": [
            {
                "display_id": display_id(REV_USER, int(m.anonymous_rev_user_id)),
                "display_name": m.display_name,
                "created_date": rfc3339(m.created_at),
                "merged_date": rfc3339(m.merged_at),
            }
            for m in merged
        ],
        "browser_credentials": [
            {
                "rev_user": display_id(REV_USER, int(c.rev_user_id)),
                "created_date": rfc3339(c.created_at),
            }
            for c in credentials
        ],
        "conversations": await _conversations(conn, org_id, identities, links),
        "visits": await _visits(conn, identities),
        "files": await _files(conn, org_id, identities, links),
    }


def _event(e: TrackedEvent) -> Json:
    return {
        "name": e.name,
        "properties": e.properties,
        "page_url": e.page_url,
        "created_date": rfc3339(e.occurred_at),
    }


async def _visits(conn: AsyncConnection, identities: list[int]) -> list[Json]:
    out: list[Json] = []
    for key in identities:
        found = await visitor_activity(conn, key, limit=MAX_EVENTS)
        if not (found.events or found.session_properties or found.current_page):
            continue
        out.append(
            {
                "rev_user": display_id(REV_USER, key),
                "events": [_event(e) for e in found.events],
                "session_properties": found.session_properties,
                "current_page": found.current_page,
            }
        )
    return out


async def _files(
    conn: AsyncConnection, org_id: str, identities: list[int], links: Links | None
) -> list[Json]:
    rows = sorted(await artifacts_of_rev_users(conn, identities), key=lambda r: int(r["id"]))
    out = []
    for r in rows:
        item = summary_json(org_id, r, links)
        item.update(
            uploaded_by=display_id(REV_USER, int(r["uploader_rev_user_id"])),
            created_date=rfc3339(r["created_at"]),
            conversation=None if r["conversation_id"] is None
            else display_id(CONVERSATION, int(r["conversation_id"])),
        )  # fmt: skip
        out.append(item)
    return out


async def _conversations(
    conn: AsyncConnection, org_id: str, identities: list[int], links: Links | None
) -> list[Json]:
    rows = (
        await conn.execute(
            select(conversations)
            .where(
                conversations.c.id.in_(
                    select(conversation_members.c.conversation_id).where(
                        conversation_members.c.rev_user_id.in_(identities)
                    )
                )
            )
            .order_by(conversations.c.id)
        )
    ).all()
    renderer = ConversationRenderer(conn, org_id, links)
    out = []
    for r in rows:
        entries = (
            await conn.execute(
                # As the person saw it: the agents' notes are not in it
                # (README, "Privacy").
                select(messages)
                .where(messages.c.conversation_id == r.id, seen.readable_by(seen.VISITOR))
                .order_by(messages.c.seq)
            )
        ).all()
        out.append(
            {
                "id": renderer.conversation_id(int(r.id)),
                "display_id": display_id(CONVERSATION, int(r.id)),
                "title": r.title,
                "status": r.status,
                "created_date": rfc3339(r.created_at),
                "messages": await renderer.timeline_entries([m._mapping for m in entries]),
            }
        )
    return out
