"""``tags.*`` as DevRev documents them: agents read the org's tags, admins
(a PAT or the inbox sign-in of an admin) change them, as with webhooks and
apps."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm.records import split_filter
from openplug.runtime import Runtime
from openplug.tags import service
from openplug.tags.schemas import (
    TagResponse,
    TagsCreateRequest,
    TagsGetQuery,
    TagsGetRequest,
    TagsListQuery,
    TagsListRequest,
    TagsListResponse,
    TagsUpdateRequest,
)
from openplug.web.deps import ActorDep, AdminDep, AgentDep, RuntimeDep
from openplug.web.openapi import Empty, answers
from openplug.webhooks.events import emit

router = APIRouter(tags=["tags"])
Json = dict[str, Any]


async def _tell(request: Request, conn: AsyncConnection, event_type: str, body: Json) -> None:
    """DevRev's ``tag_*`` webhook event, in the change's transaction. The
    tag is rendered now (a tag has no related objects to go stale), with
    ``old_tag`` as DevRev's events carry it."""
    services = getattr(request.app.state, "webhooks", None)
    if services is not None:
        await conn.run_sync(lambda sync: emit(sync, services.active, event_type, body=body))


@router.post("/tags.create", operation_id="tags.create", **answers(TagResponse, 201))
async def tags_create(
    runtime: RuntimeDep, request: Request, _: AdminDep, actor: ActorDep,
    body: TagsCreateRequest,
) -> Json:  # fmt: skip
    async with runtime.db.write() as conn:
        row = await service.create_tag(
            conn, name=body.name, description=body.description,
            allowed_values=body.allowed_values, actor=actor,
        )  # fmt: skip
        tag = service.tag_json(runtime.org_id, row)
        await _tell(request, conn, "tag_created", {"tag": tag})
    return {"tag": tag}


async def _get(runtime: Runtime, id_value: str) -> Json:
    key = service.tag_key(id_value)
    async with runtime.db.read() as conn:
        row = await service.get_tag(conn, key)
    return {"tag": service.tag_json(runtime.org_id, row)}


@router.get("/tags.get", operation_id="tags.get", **answers(TagResponse))
async def tags_get_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[TagsGetQuery, Query()]
) -> Json:
    return await _get(runtime, q.id)


@router.post("/tags.get", operation_id="tags.get.post", **answers(TagResponse))
async def tags_get_body(runtime: RuntimeDep, _: AgentDep, body: TagsGetRequest) -> Json:
    return await _get(runtime, body.id)


async def _list(runtime: Runtime, req: TagsListRequest) -> Json:
    async with runtime.db.read() as conn:
        page = await service.list_tags(
            conn, names=split_filter(req.name, req), sort_by=split_filter(req.sort_by, req),
            cursor=req.cursor, mode=req.mode, limit=req.limit,
        )  # fmt: skip
    return {"tags": [service.tag_json(runtime.org_id, r) for r in page.rows], **page.cursors()}


@router.get("/tags.list", operation_id="tags.list", **answers(TagsListResponse))
async def tags_list_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[TagsListQuery, Query()]
) -> Json:
    return await _list(runtime, q)


@router.post("/tags.list", operation_id="tags.list.post", **answers(TagsListResponse))
async def tags_list_body(runtime: RuntimeDep, _: AgentDep, body: TagsListRequest) -> Json:
    return await _list(runtime, body)


@router.post("/tags.update", operation_id="tags.update", **answers(TagResponse))
async def tags_update(
    runtime: RuntimeDep, request: Request, _: AdminDep, actor: ActorDep,
    body: TagsUpdateRequest,
) -> Json:  # fmt: skip
    key = service.tag_key(body.id)
    allowed = body.allowed_values.set if body.allowed_values is not None else None
    async with runtime.db.write() as conn:
        before = await service.get_tag(conn, key)
        row = await service.update_tag(
            conn, key, name=body.name, description=body.description,
            allowed_values=allowed, actor=actor,
        )  # fmt: skip
        tag = service.tag_json(runtime.org_id, row)
        if row["modified_at"] != before["modified_at"]:
            old = service.tag_json(runtime.org_id, before)
            await _tell(request, conn, "tag_updated", {"tag": tag, "old_tag": old})
    return {"tag": tag}


@router.post("/tags.delete", operation_id="tags.delete", **answers(Empty))
async def tags_delete(
    runtime: RuntimeDep, request: Request, _: AdminDep, actor: ActorDep,
    body: TagsGetRequest,
) -> Json:  # fmt: skip
    key = service.tag_key(body.id)
    async with runtime.db.write() as conn:
        old = service.tag_json(runtime.org_id, await service.get_tag(conn, key))
        await service.delete_tag(conn, runtime.org_id, key, actor=actor)
        await _tell(request, conn, "tag_deleted", {"id": old["id"], "old_tag": old})
    return {}
