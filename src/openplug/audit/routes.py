"""``audit-log.list`` (openplug's own call): the audit trail for admins,
newest first, as the Settings page shows it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from openplug.audit.log import list_events
from openplug.audit.schemas import AuditLogListResponse
from openplug.crm.fields import FROM_QUERY, ShortText
from openplug.crm.records import decode_cursor, encode_cursor
from openplug.crm.schemas import Paging
from openplug.db.base import rfc3339
from openplug.identity.tables import dev_users
from openplug.runtime import Runtime
from openplug.web.deps import AdminDep, RuntimeDep
from openplug.web.openapi import answers

router = APIRouter()
Json = dict[str, Any]


class AuditLogListRequest(Paging):
    action: ShortText | None = None


class AuditLogListQuery(AuditLogListRequest):
    model_config = FROM_QUERY


async def _list(runtime: Runtime, req: AuditLogListRequest) -> Json:
    before = None if req.cursor is None else decode_cursor(req.cursor)
    async with runtime.db.read() as conn:
        rows = await list_events(conn, before=before, limit=req.limit + 1, action=req.action)
        agent_keys = {r["actor_key"] for r in rows if r["actor_kind"] == "dev_user"}
        agents = {
            a.id: a
            for a in (
                await conn.execute(
                    select(dev_users.c.id, dev_users.c.email, dev_users.c.display_name).where(
                        dev_users.c.id.in_(agent_keys)
                    )
                )
            ).all()
        }
    page = rows[: req.limit]
    out: Json = {"events": [_event(r, agents) for r in page]}
    if len(rows) > req.limit:
        out["next_cursor"] = encode_cursor(int(page[-1]["id"]))
    return out


def _event(row: Any, agents: dict[int, Any]) -> Json:
    actor: Json = {"type": row["actor_kind"], "via": row["via"]}
    if row["actor_kind"] == "dev_user":
        actor["display_id"] = f"DEVU-{row['actor_key']}"
        agent = agents.get(row["actor_key"])
        if agent is not None:
            actor.update(email=agent.email, display_name=agent.display_name)
    elif row["actor_kind"] == "rev_user":
        actor["display_id"] = f"REVU-{row['actor_key']}"
    return {
        "id": f"AUDIT-{row['id']}",
        "created_date": rfc3339(row["at"]),
        "action": row["action"],
        "actor": actor,
        "address": row["address"],
        "target": row["target"],
        "details": row["details"],
    }


@router.get(
    "/audit-log.list", operation_id="audit-log.list", tags=["audit"],
    **answers(AuditLogListResponse),
)  # fmt: skip
async def audit_log_list_get(
    runtime: RuntimeDep, _: AdminDep, q: Annotated[AuditLogListQuery, Query()]
) -> Json:
    return await _list(runtime, q)


@router.post(
    "/audit-log.list", operation_id="audit-log.list.post", tags=["audit"],
    **answers(AuditLogListResponse),
)  # fmt: skip
async def audit_log_list_post(runtime: RuntimeDep, _: AdminDep, body: AuditLogListRequest) -> Json:
    return await _list(runtime, body)
