"""``visitor-activity.get``: what the site told openplug about a visitor
(``plugSDK.trackEvent``, ``addSessionProperties``, the page they are on),
for agents, beside the conversation. An openplug addition: DevRev shows
this in its own product, not through a call of this name.

The widget's side (``/widget/events.track``, ``/widget/visit-properties.add``)
is in ``widget.routes`` with the visitor's other calls.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from openplug.activity.schemas import ActivityQuery, ActivityRequest, ActivityResponse
from openplug.activity.service import visitor_activity
from openplug.crm import records
from openplug.crm.records import REV_USERS
from openplug.db.base import rfc3339
from openplug.ids import REV_USER, don
from openplug.runtime import Runtime
from openplug.web.deps import AgentDep, RuntimeDep
from openplug.web.openapi import answers

router = APIRouter(tags=["visitor-activity"])
Json = dict[str, Any]


async def _activity(runtime: Runtime, req: ActivityRequest) -> Json:
    async with runtime.db.read() as conn:
        row = await records.get_row(conn, REV_USERS, req.id)  # any agent reads any rev user
        key = int(row["id"])
        found = await visitor_activity(conn, key, limit=req.limit)
    return {
        "activity": {
            "rev_user": don(runtime.org_id, REV_USER, key),
            "events": [
                {
                    "name": e.name,
                    "properties": e.properties,
                    "page_url": e.page_url,
                    "created_date": rfc3339(e.occurred_at),
                }
                for e in found.events
            ],
            "session_properties": found.session_properties,
            "current_page": found.current_page,
            "last_seen_date": rfc3339(found.last_seen_at),
        }
    }


@router.get(
    "/visitor-activity.get", operation_id="visitor-activity.get", **answers(ActivityResponse)
)
async def visitor_activity_get_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[ActivityQuery, Query()]
) -> Json:
    return await _activity(runtime, q)


@router.post(
    "/visitor-activity.get", operation_id="visitor-activity.get.post", **answers(ActivityResponse)
)
async def visitor_activity_get_body(
    runtime: RuntimeDep, _: AgentDep, body: ActivityRequest
) -> Json:
    return await _activity(runtime, body)
