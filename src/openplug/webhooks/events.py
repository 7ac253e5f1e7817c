"""DevRev's event types, and turning openplug's changes into deliveries.

A change writes one ``webhook_deliveries`` row and one outbox job per
active webhook that wants its event type, in the change's own transaction:
an event exists exactly when the change commits. What the event carries is
rendered when it is first sent and kept, so every attempt sends the same
event under the same id.

Most writes happen with no webhook at all, so whether any active webhook
wants a type is cached in memory (``ActiveTypes``); ``webhooks.*`` and the
handshake clear the cache in this process, and other processes re-read it
within ``ActiveTypes.ttl_seconds``.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.conversations.events import ConversationChange
from openplug.conversations.visibility import TEAM, may_read
from openplug.crm.changes import CrmChange, CrmHook
from openplug.db.base import utcnow
from openplug.ids import ACCOUNT, COMMENT, CONVERSATION, REV_ORG, REV_USER, don
from openplug.outbox import enqueue_sync
from openplug.webhooks.tables import webhook_deliveries, webhooks

DELIVER = "webhooks.deliver"
VERIFY = "verify"

# DevRev's ``webhook-event-type`` enum: every value is accepted in
# ``event_types`` so a DevRev client's request works unchanged.
DEVREV_EVENT_TYPES: tuple[str, ...] = (
    "account_created", "account_deleted", "account_updated", "ai_agent_response",
    "article_created", "article_deleted", "article_updated", "conversation_created",
    "conversation_deleted", "conversation_updated", "dashboard_created", "dashboard_deleted",
    "dashboard_updated", "dev_user_created", "dev_user_deleted", "dev_user_updated",
    "group_created", "group_deleted", "group_member_added", "group_member_removed",
    "group_updated", "incident_created", "incident_deleted", "incident_updated", "job_created",
    "job_deleted", "job_updated", "link_created", "link_deleted", "link_updated",
    "part_created", "part_deleted", "part_updated", "question_answer_created",
    "question_answer_deleted", "question_answer_updated", "rev_org_created", "rev_org_deleted",
    "rev_org_updated", "rev_user_created", "rev_user_deleted", "rev_user_updated",
    "sla_tracker_created", "sla_tracker_deleted", "sla_tracker_fetched", "sla_tracker_updated",
    "survey_created", "survey_deleted", "survey_response_created", "survey_response_deleted",
    "survey_response_updated", "survey_updated", "sync_history_created",
    "sync_history_deleted", "sync_history_updated", "sync_unit_updated", "tag_created",
    "tag_deleted", "tag_updated", "timeline_entry_created", "timeline_entry_deleted",
    "timeline_entry_updated", "verify", "webhook_created", "webhook_deleted", "webhook_updated",
    "widget_created", "widget_deleted", "widget_updated", "work_created", "work_deleted",
    "work_fetched", "work_updated",
)  # fmt: skip
# What openplug sends.
EMITTED: tuple[str, ...] = (
    "conversation_created", "conversation_updated", "conversation_deleted",
    "timeline_entry_created",
    "timeline_entry_updated", "timeline_entry_deleted",
    "rev_user_created", "rev_user_updated", "rev_user_deleted",
    "account_created", "account_updated", "rev_org_created", "rev_org_updated",
    "tag_created", "tag_updated", "tag_deleted",
)  # fmt: skip

_CONVERSATION_TYPES = {
    "conversation.created": "conversation_created",
    "conversation.updated": "conversation_updated",
    "conversation.deleted": "conversation_deleted",
    "message.created": "timeline_entry_created",
    "message.updated": "timeline_entry_updated",
    "message.deleted": "timeline_entry_deleted",
}
_CRM_KINDS = {"rev_user": REV_USER, "account": ACCOUNT, "rev_org": REV_ORG}


class ActiveTypes:
    """The event types some active webhook wants, read at most once per
    ``ttl_seconds`` (and at once after ``invalidate``)."""

    def __init__(self, ttl_seconds: float = 2.0) -> None:
        self.ttl_seconds = ttl_seconds
        self._types: frozenset[str] | None = None
        self._read_at = 0.0

    def invalidate(self) -> None:
        self._types = None

    def cached(self) -> frozenset[str] | None:
        if self._types is None or time.monotonic() - self._read_at > self.ttl_seconds:
            return None
        return self._types

    def load(self, conn: Connection) -> frozenset[str]:
        rows = conn.execute(
            select(webhooks.c.event_types).where(webhooks.c.enabled, webhooks.c.verified)
        )
        self._types = frozenset(t for (types,) in rows for t in types)
        self._read_at = time.monotonic()
        return self._types


def new_event_uid() -> str:
    return secrets.token_hex(16)


def add_delivery(
    conn: Connection,
    webhook_key: int,
    event_type: str,
    *,
    object_key: int | None = None,
    body: dict[str, Any] | None = None,
) -> int:
    """One event for one webhook, and the outbox job that sends it."""
    key = conn.execute(
        insert(webhook_deliveries)
        .values(
            webhook_id=webhook_key,
            event_uid=new_event_uid(),
            type=event_type,
            object_key=object_key,
            body=body,
            state="pending",
            attempts=0,
            created_at=utcnow(),
        )
        .returning(webhook_deliveries.c.id)
    ).scalar_one()
    enqueue_sync(conn, DELIVER, {"delivery": int(key)})
    return int(key)


def emit(
    conn: Connection,
    active: ActiveTypes,
    event_type: str,
    *,
    object_key: int | None = None,
    body: dict[str, Any] | None = None,
) -> int:
    """Deliveries of one event to every active webhook that wants it; how many."""
    types = active.cached()
    if types is None:
        types = active.load(conn)
    if event_type not in types:
        return 0
    rows = conn.execute(
        select(webhooks.c.id, webhooks.c.event_types).where(webhooks.c.enabled, webhooks.c.verified)
    ).all()
    count = 0
    for row in rows:
        if event_type in row.event_types:
            add_delivery(conn, int(row.id), event_type, object_key=object_key, body=body)
            count += 1
    return count


def conversation_hook(active: ActiveTypes, org_id: str) -> Any:
    async def on_change(conn: AsyncConnection, change: ConversationChange) -> None:
        event_type = _CONVERSATION_TYPES.get(change.kind)
        if event_type is None:
            return
        if change.kind.startswith("message.") and not may_read(TEAM, change.visibility, None):
            return  # a private entry: its author's only (an internal note goes, as DevRev's do)
        types = active.cached()
        if types is not None and event_type not in types:
            return  # the common case: no webhook wants it, no statement
        key = change.message_key if event_type.startswith("timeline") else change.conversation_key
        gone = {"timeline_entry_deleted": COMMENT, "conversation_deleted": CONVERSATION}
        if event_type in gone and key is not None:
            # Gone by the time it is sent: the event names it (DevRev's ``id``).
            body = {"id": don(org_id, gone[event_type], key)}
            await conn.run_sync(lambda sync: emit(sync, active, event_type, body=body))
            return
        await conn.run_sync(lambda sync: emit(sync, active, event_type, object_key=key))

    return on_change


def crm_hook(active: ActiveTypes, org_id: str) -> CrmHook:
    def on_change(conn: Connection, change: CrmChange) -> None:
        event_type = f"{change.leaf}_{change.kind}"
        types = active.cached()
        if types is not None and event_type not in types:
            return
        if change.kind == "deleted":
            body = {"id": don(org_id, _CRM_KINDS[change.leaf], change.key)}
            emit(conn, active, event_type, body=body)
        else:
            emit(conn, active, event_type, object_key=change.key)

    return on_change
