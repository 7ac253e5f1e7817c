"""Agents' conversation calls over HTTP (PAT only): ``conversations.*`` and
``timeline-entries.*``, in DevRev's shapes.

``.get`` and ``.list`` answer GET with query parameters and POST with a
JSON body, as DevRev's API does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from openplug.artifacts.attach import message_parts
from openplug.artifacts.service import Links
from openplug.conversations import service
from openplug.conversations.render import ConversationRenderer
from openplug.conversations.schemas import (
    ConversationResponse,
    ConversationsCreateRequest,
    ConversationsListQuery,
    ConversationsListRequest,
    ConversationsListResponse,
    ConversationsMarkReadRequest,
    ConversationsUpdateRequest,
    TimelineEntriesCreateRequest,
    TimelineEntriesListQuery,
    TimelineEntriesListRequest,
    TimelineEntriesListResponse,
    TimelineEntryResponse,
)
from openplug.conversations.service import STATUSES, Author
from openplug.crm import records
from openplug.crm.schemas import GetQuery, GetRequest
from openplug.errors import ValueNotPermitted
from openplug.ids import DEV_USER, REV_USER
from openplug.runtime import Runtime
from openplug.web.deps import AgentDep, RuntimeDep
from openplug.web.openapi import answers

router = APIRouter()
Json = dict[str, Any]
_CONVERSATIONS: list[Any] = ["conversations"]
_TIMELINE: list[Any] = ["timeline-entries"]


def _agent(principal: Any) -> Author:
    return Author("dev_user", principal.dev_user_id)


async def _conversation_view(runtime: Runtime, key: int, agent: Author) -> Json:
    async with runtime.db.read() as conn:
        row = await service.get_conversation(conn, key)
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        (view,) = await renderer.conversations([row], agent_key=agent.key)
    return {"conversation": view}


@router.post("/conversations.create", tags=_CONVERSATIONS, **answers(ConversationResponse, 201))
async def conversations_create(
    runtime: RuntimeDep, principal: AgentDep, body: ConversationsCreateRequest
) -> Json:
    agent = _agent(principal)
    async with runtime.db.read() as conn:
        members = await service.resolve_rev_users(conn, body.members, "members")
    messages = body.messages or []
    parts = [
        message_parts(m.body, m.artifacts, f"messages[{i}].") for i, m in enumerate(messages)
    ]
    key = await service.create_conversation(
        runtime,
        member_keys=members,
        bodies=[text for text, _ in parts],
        artifacts=[keys for _, keys in parts],
        author=agent,
        title=body.title,
        status=body.status or (body.stage.name if body.stage else "open"),
        owner_ids=body.owned_by or (),
    )
    return await _conversation_view(runtime, key, agent)


async def _get(runtime: Runtime, principal: Any, id_value: str) -> Json:
    return await _conversation_view(runtime, service.conversation_key(id_value), _agent(principal))


@router.get(
    "/conversations.get",
    tags=_CONVERSATIONS,
    operation_id="conversations.get",
    **answers(ConversationResponse),
)
async def conversations_get_query(
    runtime: RuntimeDep, principal: AgentDep, q: Annotated[GetQuery, Query()]
) -> Json:
    return await _get(runtime, principal, q.id)


@router.post(
    "/conversations.get",
    tags=_CONVERSATIONS,
    operation_id="conversations.get.post",
    **answers(ConversationResponse),
)
async def conversations_get_body(
    runtime: RuntimeDep, principal: AgentDep, body: GetRequest
) -> Json:
    return await _get(runtime, principal, body.id)


async def _list(runtime: Runtime, principal: Any, req: ConversationsListRequest) -> Json:
    members = records.ids_filter(req.members, REV_USER, "members")
    owners = records.ids_filter(req.owned_by, DEV_USER, "owned_by")
    statuses = records.split_filter(req.status)
    for status in statuses or []:
        if status not in STATUSES:
            raise ValueNotPermitted("status", "not one of the allowed values", list(STATUSES))
    async with runtime.db.read() as conn:
        rows, cursor = await service.list_conversations(
            conn,
            member_keys=members,
            statuses=statuses,
            owner_keys=owners,
            unassigned=req.is_unassigned,
            cursor=req.cursor,
            limit=req.limit,
        )
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        views = await renderer.conversations(rows, agent_key=principal.dev_user_id)
    return {"conversations": views, "next_cursor": cursor}


@router.get(
    "/conversations.list",
    tags=_CONVERSATIONS,
    operation_id="conversations.list",
    **answers(ConversationsListResponse),
)
async def conversations_list_query(
    runtime: RuntimeDep, principal: AgentDep, q: Annotated[ConversationsListQuery, Query()]
) -> Json:
    return await _list(runtime, principal, q)


@router.post(
    "/conversations.list",
    tags=_CONVERSATIONS,
    operation_id="conversations.list.post",
    **answers(ConversationsListResponse),
)
async def conversations_list_body(
    runtime: RuntimeDep, principal: AgentDep, body: ConversationsListRequest
) -> Json:
    return await _list(runtime, principal, body)


@router.post("/conversations.update", tags=_CONVERSATIONS, **answers(ConversationResponse))
async def conversations_update(
    runtime: RuntimeDep, principal: AgentDep, body: ConversationsUpdateRequest
) -> Json:
    agent = _agent(principal)
    key = service.conversation_key(body.id)
    status = body.status or (body.stage.name if body.stage else None)
    owners = body.owned_by.set if body.owned_by is not None else None
    await service.update_conversation(
        runtime, key, actor=agent, title=body.title, status=status, owner_ids=owners
    )
    return await _conversation_view(runtime, key, agent)


@router.post("/conversations.mark-read", tags=_CONVERSATIONS, **answers(ConversationResponse))
async def conversations_mark_read(
    runtime: RuntimeDep, principal: AgentDep, body: ConversationsMarkReadRequest
) -> Json:
    """openplug's own: the calling agent has read up to ``seq`` (default: all)."""
    agent = _agent(principal)
    key = service.conversation_key(body.id)
    await service.mark_read(runtime, key, agent, body.seq)
    return await _conversation_view(runtime, key, agent)


# --- timeline entries (messages) -------------------------------------------------


@router.post("/timeline-entries.create", tags=_TIMELINE, **answers(TimelineEntryResponse, 201))
async def timeline_entries_create(
    runtime: RuntimeDep, principal: AgentDep, body: TimelineEntriesCreateRequest
) -> Json:
    key = service.conversation_key(body.object, "object")
    text, artifact_keys = message_parts(body.body, body.artifacts)
    posted = await service.post_message(
        runtime, key, _agent(principal), text, artifact_keys=artifact_keys
    )
    async with runtime.db.read() as conn:
        rows, _ = await service.messages_after(conn, key, posted.seq - 1, 1)
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        (entry,) = await renderer.timeline_entries(rows)
    return {"timeline_entry": entry}


async def _timeline(runtime: Runtime, req: TimelineEntriesListRequest) -> Json:
    key = service.conversation_key(req.object, "object")
    before = records.decode_cursor(req.cursor) if req.cursor is not None else None
    async with runtime.db.read() as conn:
        await service.get_conversation(conn, key)
        rows, next_seq = await service.messages_before(conn, key, before, req.limit)
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        entries = await renderer.timeline_entries(rows)
    cursor = records.encode_cursor(next_seq) if next_seq is not None else None
    return {"timeline_entries": entries, "next_cursor": cursor}


@router.get(
    "/timeline-entries.list",
    tags=_TIMELINE,
    operation_id="timeline-entries.list",
    **answers(TimelineEntriesListResponse),
)
async def timeline_entries_list_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[TimelineEntriesListQuery, Query()]
) -> Json:
    """Newest first, as DevRev lists a timeline."""
    return await _timeline(runtime, q)


@router.post(
    "/timeline-entries.list",
    tags=_TIMELINE,
    operation_id="timeline-entries.list.post",
    **answers(TimelineEntriesListResponse),
)
async def timeline_entries_list_body(
    runtime: RuntimeDep, _: AgentDep, body: TimelineEntriesListRequest
) -> Json:
    return await _timeline(runtime, body)
