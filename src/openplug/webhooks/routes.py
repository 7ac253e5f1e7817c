"""``webhooks.*`` as DevRev documents them, for admins (a PAT or the inbox
sign-in), and openplug's ``webhooks.deliveries.list``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from openplug.crm.records import decode_cursor, encode_cursor
from openplug.db.base import rfc3339
from openplug.ids import WEBHOOK, don
from openplug.runtime import Runtime
from openplug.web.deps import ActorDep, AdminDep, RuntimeDep
from openplug.web.openapi import Empty, answers
from openplug.webhooks import service
from openplug.webhooks.delivery import event_id
from openplug.webhooks.schemas import (
    WebhookDeliveriesListResponse,
    WebhookResponse,
    WebhooksCreateRequest,
    WebhooksDeliveriesListQuery,
    WebhooksDeliveriesListRequest,
    WebhooksGetQuery,
    WebhooksGetRequest,
    WebhooksListRequest,
    WebhooksListResponse,
    WebhooksUpdateRequest,
)
from openplug.webhooks.tables import webhook_deliveries

router = APIRouter(tags=["webhooks"])
Json = dict[str, Any]


def _changed(request: Request) -> None:
    """After a commit that changed webhooks: this process re-reads which
    event types are wanted, and sends a handshake at once."""
    services = getattr(request.app.state, "webhooks", None)
    if services is not None:
        services.active.invalidate()
    runtime: Runtime = request.app.state.runtime
    if runtime.outbox is not None:
        runtime.outbox.wake()


@router.post("/webhooks.create", operation_id="webhooks.create", **answers(WebhookResponse, 201))
async def webhooks_create(
    runtime: RuntimeDep, request: Request, _: AdminDep, actor: ActorDep,
    body: WebhooksCreateRequest,
) -> Json:  # fmt: skip
    async with runtime.db.write() as conn:
        row = await service.create_webhook(
            conn, url=body.url, event_types=body.event_types, secret=body.secret,
            allow_private=runtime.settings.webhooks_allow_private, actor=actor,
        )  # fmt: skip
    _changed(request)
    return {"webhook": service.webhook_json(runtime.org_id, row)}


async def _get(runtime: Runtime, id_value: str) -> Json:
    key = service.webhook_key(id_value)
    async with runtime.db.read() as conn:
        row = await service.get_webhook(conn, key)
    return {"webhook": service.webhook_json(runtime.org_id, row)}


@router.get("/webhooks.get", operation_id="webhooks.get", **answers(WebhookResponse))
async def webhooks_get_query(
    runtime: RuntimeDep, _: AdminDep, q: Annotated[WebhooksGetQuery, Query()]
) -> Json:
    return await _get(runtime, q.id)


@router.post("/webhooks.get", operation_id="webhooks.get.post", **answers(WebhookResponse))
async def webhooks_get_body(runtime: RuntimeDep, _: AdminDep, body: WebhooksGetRequest) -> Json:
    return await _get(runtime, body.id)


async def _list(runtime: Runtime) -> Json:
    async with runtime.db.read() as conn:
        rows = await service.list_webhooks(conn)
    return {"webhooks": [service.webhook_json(runtime.org_id, r) for r in rows]}


@router.get("/webhooks.list", operation_id="webhooks.list", **answers(WebhooksListResponse))
async def webhooks_list_query(runtime: RuntimeDep, _: AdminDep) -> Json:
    return await _list(runtime)


@router.post("/webhooks.list", operation_id="webhooks.list.post", **answers(WebhooksListResponse))
async def webhooks_list_body(
    runtime: RuntimeDep, _: AdminDep, body: WebhooksListRequest | None = None
) -> Json:
    return await _list(runtime)


@router.post("/webhooks.update", operation_id="webhooks.update", **answers(WebhookResponse))
async def webhooks_update(
    runtime: RuntimeDep, request: Request, _: AdminDep, actor: ActorDep,
    body: WebhooksUpdateRequest,
) -> Json:  # fmt: skip
    key = service.webhook_key(body.id)
    types = None
    if body.event_types is not None:
        e = body.event_types
        types = service.EventTypesChange(add=e.add, remove=e.remove, set=e.set)
    async with runtime.db.write() as conn:
        row = await service.update_webhook(
            conn, key, action=body.action, event_types=types, secret=body.secret,
            url=body.url, allow_private=runtime.settings.webhooks_allow_private, actor=actor,
        )  # fmt: skip
    _changed(request)
    return {"webhook": service.webhook_json(runtime.org_id, row)}


@router.post("/webhooks.delete", operation_id="webhooks.delete", **answers(Empty))
async def webhooks_delete(
    runtime: RuntimeDep, request: Request, _: AdminDep, actor: ActorDep,
    body: WebhooksGetRequest,
) -> Json:  # fmt: skip
    key = service.webhook_key(body.id)
    async with runtime.db.write() as conn:
        await service.delete_webhook(conn, key, actor=actor)
    _changed(request)
    return {}


# --- the delivery log (openplug's own call) ------------------------------------


async def _deliveries(runtime: Runtime, req: WebhooksDeliveriesListRequest) -> Json:
    d = webhook_deliveries.c
    query = select(webhook_deliveries).order_by(d.id.desc()).limit(req.limit + 1)
    if req.webhook is not None:
        key = service.webhook_key(req.webhook, "webhook")
        async with runtime.db.read() as conn:
            await service.get_webhook(conn, key)
        query = query.where(d.webhook_id == key)
    if req.cursor is not None:
        query = query.where(d.id < decode_cursor(req.cursor))
    async with runtime.db.read() as conn:
        rows = [r._mapping for r in (await conn.execute(query)).all()]
    page = rows[: req.limit]
    out: Json = {"deliveries": [_delivery(runtime.org_id, r) for r in page]}
    if len(rows) > req.limit:
        out["next_cursor"] = encode_cursor(int(page[-1]["id"]))
    return out


def _delivery(org_id: str, r: Any) -> Json:
    out: Json = {
        "id": f"DELIVERY-{r['id']}",
        "webhook_id": don(org_id, WEBHOOK, int(r["webhook_id"])),
        "event_id": event_id(org_id, int(r["webhook_id"]), str(r["event_uid"])),
        "type": r["type"],
        "state": r["state"],
        "attempts": int(r["attempts"]),
        "created_date": rfc3339(r["created_at"]),
    }
    if r["last_status"] is not None:
        out["last_status"] = int(r["last_status"])
    if r["last_error"] is not None:
        out["last_error"] = r["last_error"]
    if r["last_attempt_at"] is not None:
        out["last_attempt_date"] = rfc3339(r["last_attempt_at"])
    if r["delivered_at"] is not None:
        out["delivered_date"] = rfc3339(r["delivered_at"])
    return out


@router.get(
    "/webhooks.deliveries.list", operation_id="webhooks.deliveries.list",
    **answers(WebhookDeliveriesListResponse),
)  # fmt: skip
async def webhooks_deliveries_list_query(
    runtime: RuntimeDep, _: AdminDep, q: Annotated[WebhooksDeliveriesListQuery, Query()]
) -> Json:
    return await _deliveries(runtime, q)


@router.post(
    "/webhooks.deliveries.list", operation_id="webhooks.deliveries.list.post",
    **answers(WebhookDeliveriesListResponse),
)  # fmt: skip
async def webhooks_deliveries_list_body(
    runtime: RuntimeDep, _: AdminDep, body: WebhooksDeliveriesListRequest
) -> Json:
    return await _deliveries(runtime, body)
