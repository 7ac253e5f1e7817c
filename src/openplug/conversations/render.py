"""Conversations and messages as JSON: DevRev's shapes for agents, a
smaller shape for the widget. Related users are fetched in one query per
table for a whole page, never one per row.

Bodies are plain text, returned exactly as stored, as JSON strings; nothing
here (or anywhere on the server) turns them into HTML.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.artifacts.service import Links, summaries_by_message
from openplug.conversations import assignment, service
from openplug.conversations import visibility as seen
from openplug.conversations.service import Row
from openplug.crm.tables import rev_users
from openplug.db.base import rfc3339
from openplug.identity.tables import apps, dev_users
from openplug.ids import COMMENT, CONVERSATION, DEV_USER, REV_USER, SYS_USER, display_id, don
from openplug.tags import refs as tag_refs
from openplug.tags import service as tag_service
from openplug.web.openapi import without_none

Json = dict[str, Any]
PREVIEW_CHARS = 140


# Built once (the keys are a parameter): every page renders its users, and
# building the statement cost more than running it (conversations.list).
_REV_USERS = select(
    rev_users.c.id,
    rev_users.c.display_name,
    rev_users.c.email,
    rev_users.c.is_verified,
    rev_users.c.state,
).where(rev_users.c.id.in_(bindparam("keys", expanding=True)))
_DEV_USERS = select(dev_users.c.id, dev_users.c.display_name, dev_users.c.email).where(
    dev_users.c.id.in_(bindparam("keys", expanding=True))
)


class ConversationRenderer:
    """``links``: mints the short-lived URLs in each message's artifacts;
    without it (an export, an event for the log) artifacts have no URLs."""

    def __init__(self, conn: AsyncConnection, org_id: str, links: Links | None = None) -> None:
        self.conn = conn
        self.org_id = org_id
        self.links = links
        self._artifacts: dict[int, list[Json]] = {}
        self._rev: dict[int, Row] = {}
        self._dev: dict[int, Row] = {}
        self._teams: dict[int, str] = {}

    # --- users ----------------------------------------------------------------

    async def _load_users(self, rev_keys: set[int], dev_keys: set[int]) -> None:
        rev_keys -= self._rev.keys()
        dev_keys -= self._dev.keys()
        if rev_keys:
            rows = await self.conn.execute(_REV_USERS, {"keys": list(rev_keys)})
            self._rev.update({int(r.id): r._mapping for r in rows})
        if dev_keys:
            rows = await self.conn.execute(_DEV_USERS, {"keys": list(dev_keys)})
            self._dev.update({int(r.id): r._mapping for r in rows})

    def rev_user_summary(self, key: int, *, for_agent: bool = True) -> Json | None:
        row = self._rev.get(key)
        if row is None:
            return None
        summary: Json = {
            "type": "rev_user",
            "id": don(self.org_id, REV_USER, key),
            "display_id": display_id(REV_USER, key),
            "display_name": row["display_name"],
        }
        if for_agent:
            summary.update(email=row["email"], is_verified=row["is_verified"], state=row["state"])
        return summary

    def dev_user_summary(self, key: int, *, for_agent: bool = True) -> Json | None:
        row = self._dev.get(key)
        if row is None:
            return None
        summary: Json = {
            "type": "dev_user",
            "id": don(self.org_id, DEV_USER, key),
            "display_id": display_id(DEV_USER, key),
            "display_name": row["display_name"],
        }
        if for_agent:
            summary["email"] = row["email"]
        return summary

    def team_summary(self, app_pk: int) -> Json | None:
        """An app's team, the author of what openplug posts for it (the away
        message): DevRev's ``sys_user``, named after the app."""
        name = self._teams.get(app_pk)
        if name is None:
            return None
        return {
            "type": "sys_user",
            "id": don(self.org_id, SYS_USER, app_pk),
            "display_id": display_id(SYS_USER, app_pk),
            "display_name": name,
        }

    def author_summary(self, message: Row, *, for_agent: bool = True) -> Json | None:
        if message["author_app_pk"] is not None:
            return self.team_summary(int(message["author_app_pk"]))
        if message["author_dev_user_id"] is not None:
            return self.dev_user_summary(int(message["author_dev_user_id"]), for_agent=for_agent)
        if message["author_rev_user_id"] is not None:
            return self.rev_user_summary(int(message["author_rev_user_id"]), for_agent=for_agent)
        return None

    async def dev_user_summaries(self, keys: Sequence[int]) -> dict[int, Json]:
        """Agents as DevRev's ``dev-user-summary`` (for ``owned_by``), by key;
        an agent gone since is left out."""
        await self._load_users(set(), set(keys))
        return {k: s for k in keys if (s := self.dev_user_summary(k)) is not None}

    async def _load_authors(self, rows: Sequence[Row]) -> None:
        await self._load_users(
            {int(m["author_rev_user_id"]) for m in rows if m["author_rev_user_id"] is not None},
            {int(m["author_dev_user_id"]) for m in rows if m["author_dev_user_id"] is not None},
        )
        wanted = [int(m["id"]) for m in rows if int(m["id"]) not in self._artifacts]
        self._artifacts.update(
            await summaries_by_message(self.conn, self.org_id, wanted, self.links)
        )
        teams = {int(m["author_app_pk"]) for m in rows if m["author_app_pk"] is not None}
        teams -= self._teams.keys()
        if teams:
            found = await self.conn.execute(
                select(apps.c.id, apps.c.name).where(apps.c.id.in_(teams))
            )
            self._teams.update({int(r.id): str(r.name) for r in found})

    # --- agents: DevRev's shapes ------------------------------------------------

    def conversation_id(self, key: int) -> str:
        return don(self.org_id, CONVERSATION, key)

    def timeline_entry(self, message: Row) -> Json:
        conv = int(message["conversation_id"])
        created = rfc3339(message["created_at"])
        entry = {
            "type": "timeline_comment",
            "id": don(self.org_id, COMMENT, int(message["id"])),
            "object": self.conversation_id(conv),
            "object_display_id": display_id(CONVERSATION, conv),
            "object_type": "conversation",
            "body": message["body"],
            "body_type": "text",
            "created_by": self.author_summary(message),
            "artifacts": self._artifacts.get(int(message["id"]), []),
            "created_date": created,
            "modified_date": rfc3339(message["modified_at"]) if message["modified_at"] else created,
            "seq": message["seq"],
            "visibility": message["visibility"],
        }
        # DevRev types the author as an object: left out once they are gone.
        return without_none(entry, "created_by")

    async def timeline_entries(self, rows: Sequence[Row]) -> list[Json]:
        await self._load_authors(rows)
        return [self.timeline_entry(m) for m in rows]

    async def conversations(self, rows: Sequence[Row], *, agent_key: int) -> list[Json]:
        keys = [int(r["id"]) for r in rows]
        members = await service.members_of(self.conn, keys)
        reader = seen.agent(agent_key)
        recent = await service.recent_messages(self.conn, rows, reader)
        read = await service.agent_read_seqs(self.conn, agent_key, keys)
        unread = await service.unread_counts(
            self.conn,
            {k: read.get(k, 0) for k in keys},
            reader,
            author=service.Author("dev_user", agent_key),
        )
        owners = await assignment.owners_by_conversation(self.conn, keys)
        await self._load_users(
            {int(m["rev_user_id"]) for ms in members.values() for m in ms},
            {k for ks in owners.values() for k in ks},
        )
        await self._load_authors([m for ms in recent.values() for m in ms])
        tag_names = await tag_service.names_of(
            self.conn,
            {k for r in rows for t in r["tags"] if (k := tag_refs.key_named_by(t["id"]))},
        )
        out = []
        for r in rows:
            key = int(r["id"])
            out.append(
                {
                    "type": "conversation",
                    "id": self.conversation_id(key),
                    "display_id": display_id(CONVERSATION, key),
                    "title": r["title"],
                    "members": [
                        s
                        for m in members[key]
                        if (s := self.rev_user_summary(int(m["rev_user_id"]))) is not None
                    ],
                    "owned_by": [
                        s for k in owners[key] if (s := self.dev_user_summary(k)) is not None
                    ],
                    "stage": {"name": r["status"]},
                    "status": r["status"],
                    **({"description": r["description"]} if r["description"] is not None else {}),
                    "tags": self._tags(r["tags"], tag_names),
                    "custom_fields": r["custom_fields"],
                    "created_date": rfc3339(r["created_at"]),
                    "modified_date": rfc3339(r["modified_at"]),
                    "last_message_date": rfc3339(r["last_message_at"]),
                    "last_seq": r["last_seq"],
                    "unread_count": unread[key],
                    # openplug's own: how far the visitors have read, so an
                    # agent's view can show "Seen" before any live receipt.
                    "members_read_seq": max(
                        (int(m["last_read_seq"]) for m in members[key]), default=0
                    ),
                    "messages": [self.timeline_entry(m) for m in recent[key]],
                }
            )
        return out

    # --- the widget: one visitor's view -------------------------------------------

    def _tags(self, stored: Sequence[Json], names: dict[int, str]) -> list[Json]:
        """DevRev's ``tag-with-value`` for each stored tag: one that names a
        tag (its DON or display id) carries that tag's summary, once;
        free-form text, kept from before ``tags.*``, is its own id and name."""
        out: dict[str, Json] = {}
        for t in stored:
            key = tag_refs.key_named_by(str(t["id"]))
            if key is not None and key in names:
                summary = tag_service.summary(self.org_id, key, names[key])
            else:
                summary = {"id": t["id"], "name": t["id"]}
            out[summary["id"]] = {"tag": summary, **_tag_value(t)}
        return list(out.values())

    def shared_message(self, message: Row) -> Json:
        """A message as everyone watching its conversation may see it (the
        realtime events carry this): the widget's shape without ``mine``."""
        return {
            "id": don(self.org_id, COMMENT, int(message["id"])),
            "conversation": self.conversation_id(int(message["conversation_id"])),
            "seq": message["seq"],
            "body": message["body"],
            "body_type": "text",
            "artifacts": self._artifacts.get(int(message["id"]), []),
            "created_date": rfc3339(message["created_at"]),
            "author": self.author_summary(message, for_agent=False),
            # From the support side: an agent or the team's automated message.
            "from_agent": message["author_dev_user_id"] is not None
            or message["author_app_pk"] is not None,
            # Only ever other than external on agents-only topics (``hub``).
            **(
                {"visibility": message["visibility"]}
                if not seen.shown_to_visitors(message["visibility"])
                else {}
            ),
            **(
                {"modified_date": rfc3339(message["modified_at"])}
                if message["modified_at"] is not None
                else {}
            ),
        }

    async def shared_messages(self, rows: Sequence[Row]) -> list[Json]:
        await self._load_authors(rows)
        return [self.shared_message(m) for m in rows]

    async def user_summary(self, kind: str, key: int) -> Json | None:
        """One visitor's or agent's public summary (no email)."""
        if kind == "dev_user":
            await self._load_users(set(), {key})
            return self.dev_user_summary(key, for_agent=False)
        await self._load_users({key}, set())
        return self.rev_user_summary(key, for_agent=False)

    def visitor_message(self, message: Row, visitor_key: int) -> Json:
        return {
            **self.shared_message(message),
            "mine": message["author_rev_user_id"] == visitor_key,
        }

    async def visitor_messages(self, rows: Sequence[Row], visitor_key: int) -> list[Json]:
        await self._load_authors(rows)
        return [self.visitor_message(m, visitor_key) for m in rows]

    async def visitor_conversations(
        self, rows: Sequence[Row], visitor_key: int, *, with_messages: int = 1
    ) -> list[Json]:
        keys = [int(r["id"]) for r in rows]
        members = await service.members_of(self.conn, keys)
        recent = await service.recent_messages(self.conn, rows, seen.VISITOR, with_messages)
        await self._load_authors([m for ms in recent.values() for m in ms])
        read = {
            key: next(
                (int(m["last_read_seq"]) for m in members[key] if m["rev_user_id"] == visitor_key),
                0,
            )
            for key in keys
        }
        unread = await service.unread_counts(
            self.conn, read, seen.VISITOR, author=service.Author("rev_user", visitor_key)
        )
        out = []
        for r in rows:
            key = int(r["id"])
            # What the visitor has read, as far as they can tell: a note
            # after their last message is no position of theirs.
            last_read = min(read[key], int(r["visitor_last_seq"]))
            latest = recent[key]
            view: Json = {
                "id": self.conversation_id(key),
                "display_id": display_id(CONVERSATION, key),
                "title": r["title"],
                "status": r["status"],
                "created_date": rfc3339(r["created_at"]),
                "modified_date": rfc3339(r["modified_at"]),
                "last_message_date": rfc3339(r["last_message_at"]),
                "last_seq": r["visitor_last_seq"],
                "last_read_seq": last_read,
                "unread_count": unread[key],
                "preview": _preview(latest[-1]["body"]) if latest else None,
                # Who wrote the preview and when: the widget's list says
                # "You: ..." or the agent's name, with the time.
                "last_message": self.visitor_message(latest[-1], visitor_key) if latest else None,
            }
            if with_messages > 1:
                view["messages"] = [self.visitor_message(m, visitor_key) for m in latest]
            out.append(view)
        return out


def _tag_value(tag: Json) -> Json:
    return {"value": tag["value"]} if tag.get("value") is not None else {}


def _preview(body: str) -> str:
    line = " ".join(body.split())
    return line if len(line) <= PREVIEW_CHARS else line[: PREVIEW_CHARS - 1].rstrip() + "…"
