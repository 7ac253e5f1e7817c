"""Where the widget learns an app's availability, and the away message.

The away message is posted once per conversation: when a visitor writes
(the first message of a conversation, or any later one) while the team is
outside office hours, and the conversation has no away message yet. So a
visitor who comes back to the same conversation on another night is not
told again; a new conversation is. It is posted after the visitor's
message, as the app's team (``sys_user``), and reaches sockets like any
message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from openplug.availability.hours import Availability, availability_at
from openplug.conversations.service import PostedMessage, post_automated_message
from openplug.db.base import rfc3339, utcnow
from openplug.db.point_reads import PointRead
from openplug.identity.tables import apps
from openplug.runtime import Runtime

_COLUMNS = (
    apps.c.id,
    apps.c.app_id,
    apps.c.name,
    apps.c.time_zone,
    apps.c.office_hours,
    apps.c.reply_time,
    apps.c.away_message,
)
_BY_APP_ID = PointRead(select(*_COLUMNS).where(apps.c.app_id == bindparam("app_id")))
_BY_PK = PointRead(select(*_COLUMNS).where(apps.c.id == bindparam("pk")))


async def app_schedule(runtime: Runtime, app_id: str) -> Mapping[str, Any] | None:
    """The app's availability settings (for ``availability_at``), or None."""
    return await runtime.db.points.one(_BY_APP_ID, app_id=app_id)


def availability_json(row: Mapping[str, Any], availability: Availability) -> dict[str, Any]:
    return {
        "open": availability.open,
        "next_open_at": rfc3339(availability.next_open_at),
        "reply_time": row["reply_time"] if availability.reply_time_text else None,
        "reply_time_text": availability.reply_time_text,
    }


async def away_message_now(
    runtime: Runtime, app_pk: int, now: datetime | None = None
) -> str | None:
    """App ``app_pk``'s away message if its team is out now, else None."""
    row = await runtime.db.points.one(_BY_PK, pk=app_pk)
    if row is None or not row["away_message"]:
        return None
    if availability_at(row, now or utcnow()).open:
        return None
    return str(row["away_message"])


async def post_away_message_if_away(
    runtime: Runtime, conversation_key: int, app_pk: int, now: datetime | None = None
) -> PostedMessage | None:
    """Call after a visitor's message in app ``app_pk``'s widget has been
    committed; the away message it posted, if any. (A new conversation
    gets its away message in its own transaction: ``away_message_now``
    and ``create_conversation``'s ``automated_body``.)"""
    body = await away_message_now(runtime, app_pk, now)
    if body is None:
        return None
    return await post_automated_message(runtime, conversation_key, app_pk=app_pk, body=body)
