"""Agents' conversation calls over HTTP (PAT only): ``conversations.*`` and
``timeline-entries.*``, in DevRev's shapes.

``.get`` and ``.list`` answer GET with query parameters and POST with a
JSON body, as DevRev's API does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug import idempotency
from openplug.artifacts.attach import message_parts
from openplug.artifacts.service import Links
from openplug.conversations import service
from openplug.conversations import visibility as seen
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
    TimelineEntriesUpdateRequest,
    TimelineEntryIdQuery,
    TimelineEntryIdRequest,
    TimelineEntryResponse,
)
from openplug.conversations.service import STATUSES, Author, PostedMessage
from openplug.crm import records
from openplug.crm.schemas import GetQuery, GetRequest
from openplug.errors import InvalidId, NotFound, ValueNotPermitted
from openplug.idempotency import IdempotencyKey
from openplug.ids import DEV_USER, REV_ORG, REV_USER
from openplug.runtime import Runtime
from openplug.tags import refs as tag_refs
from openplug.tags import service as tag_service
from openplug.web.deps import AgentDep, RuntimeDep
from openplug.web.openapi import Empty, answers

router = APIRouter()
Json = dict[str, Any]
_CONVERSATIONS: list[Any] = ["conversations"]
_TIMELINE: list[Any] = ["timeline-entries"]


def _agent(principal: Any) -> Author:
    return Author("dev_user", principal.dev_user_id)


async def _render_conversation(
    runtime: Runtime, conn: AsyncConnection, key: int, agent: Author
) -> Json:
    row = await service.get_conversation(conn, key)
    renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
    (view,) = await renderer.conversations([row], agent_key=agent.key)
    return {"conversation": view}


async def _conversation_view(runtime: Runtime, key: int, agent: Author) -> Json:
    async with runtime.db.read() as conn:
        return await _render_conversation(runtime, conn, key, agent)


def _idempotent(key: str | None, principal: Any, route: str, body: BaseModel) -> Any:
    token = principal.access_token
    app = f"app:{token.app_pk}:" if token is not None and token.app_pk is not None else ""
    scope = f"{app}dev_user:{principal.dev_user_id}"
    return idempotency.IdempotentCall.of(key, scope=scope, route=route, body=body)


@router.post("/conversations.create", tags=_CONVERSATIONS, **answers(ConversationResponse, 201))
async def conversations_create(
    runtime: RuntimeDep,
    principal: AgentDep,
    body: ConversationsCreateRequest,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Json:
    agent = _agent(principal)
    call = _idempotent(idempotency_key, principal, "conversations.create", body)
    tags = [t.model_dump() for t in body.tags or ()]
    async with runtime.db.read() as conn:
        members = await service.resolve_rev_users(conn, body.members, "members")
        await tag_service.check_tag_values(conn, tags, "tags")
    messages = body.messages or []
    parts = [message_parts(m.body, m.artifacts, f"messages[{i}].") for i, m in enumerate(messages)]

    async def write(remember: idempotency.Remember | None) -> Json:
        answer: Json = {}

        async def render(conn: AsyncConnection, key: int) -> None:
            answer.update(await _render_conversation(runtime, conn, key, agent))
            if remember is not None:
                await remember(conn, answer)

        await service.create_conversation(
            runtime,
            member_keys=members,
            bodies=[text for text, _ in parts],
            artifacts=[keys for _, keys in parts],
            author=agent,
            title=body.title,
            status=body.status or (body.stage.name if body.stage else "open"),
            owner_ids=body.owned_by or (),
            description=body.description,
            tags=tags,
            custom_fields=body.custom_fields,
            also_write=render,
        )
        return answer

    return await idempotency.once(runtime, call, response, 201, write)


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


# DevRev's conversation ``state`` as openplug's status.
_STATES = {"open": "open", "closed": "resolved"}


def _statuses(req: ConversationsListRequest | ConversationsListQuery) -> list[str] | None:
    """``status``, ``stage.name`` and ``state`` all narrow the statuses."""
    wanted: set[str] | None = None
    names = (
        req.stage_name
        if isinstance(req, ConversationsListQuery)
        else (req.stage.name if req.stage is not None else None)
    )
    for field_name, values in (("status", req.status), ("stage.name", names)):
        given = records.split_filter(values, req)
        if given is None:
            continue
        for value in given:
            if value not in STATUSES:
                raise ValueNotPermitted(field_name, "not one of the allowed values", list(STATUSES))
        wanted = set(given) if wanted is None else wanted & set(given)
    if (states := records.split_filter(req.state, req)) is not None:
        for value in states:
            if value not in _STATES:
                raise ValueNotPermitted("state", "not one of the allowed values", list(_STATES))
        mapped = {_STATES[v] for v in states}
        wanted = mapped if wanted is None else wanted & mapped
    return None if wanted is None else sorted(wanted)


async def _list(
    runtime: Runtime, principal: Any, req: ConversationsListRequest | ConversationsListQuery
) -> Json:
    members = records.ids_filter(req.members, REV_USER, "members", req)
    owners = records.ids_filter(req.owned_by, DEV_USER, "owned_by", req)
    orgs = records.ids_filter([*(req.rev_org or ()), *(req.rev_orgs or ())] or None, REV_ORG,
                              "rev_org", req)  # fmt: skip
    if isinstance(req, ConversationsListQuery):
        after, before = req.modified_after, req.modified_before
    else:
        after = req.modified_date.after if req.modified_date else None
        before = req.modified_date.before if req.modified_date else None
    filters = service.ConversationFilters(
        tags=[tag_refs.canonical(t) for t in records.split_filter(req.tags, req) or ()]
        if req.tags is not None
        else None,
        rev_org_keys=orgs,
        modified_after=after,
        modified_before=before,
    )
    async with runtime.db.read() as conn:
        rows, next_cursor, prev_cursor = await service.list_conversations(
            conn,
            member_keys=members,
            statuses=_statuses(req),
            owner_keys=owners,
            unassigned=req.is_unassigned,
            cursor=req.cursor,
            limit=req.limit,
            backwards=req.mode == "before",
            filters=filters,
        )
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        views = await renderer.conversations(rows, agent_key=principal.dev_user_id)
    cursors = {"next_cursor": next_cursor, "prev_cursor": prev_cursor}
    return {"conversations": views, **{k: v for k, v in cursors.items() if v is not None}}


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
    members = body.members.set if body.members is not None else None
    extra: Json = {}
    if "description" in body.model_fields_set:
        extra["description"] = body.description
    if body.custom_fields is not None:
        extra["custom_fields"] = body.custom_fields
    if body.tags is not None:
        sent = {
            part: None if given is None else [t.model_dump() for t in given]
            for part, given in (("set", body.tags.set), ("add", body.tags.add),
                                ("remove", body.tags.remove))
        }  # fmt: skip
        async with runtime.db.read() as conn:
            stored = (await service.get_conversation(conn, key))["tags"]
            for part in ("set", "add"):
                await tag_service.check_tag_values(conn, sent[part] or (), f"tags.{part}")
        extra["tags"] = service.updated_tags(
            stored, set_=sent["set"], add=sent["add"], remove=sent["remove"]
        )
    await service.update_conversation(
        runtime, key, actor=agent, title=body.title, status=status, owner_ids=owners,
        member_ids=members, extra=extra,
    )  # fmt: skip
    return await _conversation_view(runtime, key, agent)


@router.post("/conversations.delete", tags=_CONVERSATIONS, **answers(Empty))
async def conversations_delete(runtime: RuntimeDep, principal: AgentDep, body: GetRequest) -> Json:
    """Gone for everyone, files included; the visitor's widget drops it at
    once. Not undoable."""
    await service.delete_conversation(runtime, service.conversation_key(body.id), _agent(principal))
    return {}


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
    runtime: RuntimeDep,
    principal: AgentDep,
    body: TimelineEntriesCreateRequest,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Json:
    """``visibility``: ``internal`` is a note (agents only), ``private`` is
    seen by its author only; see ``conversations.visibility``."""
    key = service.conversation_key(body.object, "object")
    agent = _agent(principal)
    call = _idempotent(idempotency_key, principal, "timeline-entries.create", body)
    text, artifact_keys = message_parts(body.body, body.artifacts)

    async def write(remember: idempotency.Remember | None) -> Json:
        answer: Json = {}

        async def render(conn: AsyncConnection, posted: PostedMessage) -> None:
            renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
            (entry,) = await renderer.timeline_entries([posted.row])
            answer["timeline_entry"] = entry
            if remember is not None:
                await remember(conn, answer)

        await service.post_message(
            runtime, key, agent, text, artifact_keys=artifact_keys, also_write=render,
            visibility=body.visibility or "external",
        )  # fmt: skip
        return answer

    return await idempotency.once(runtime, call, response, 201, write)


async def _entry_view(runtime: Runtime, key: int, agent: Author) -> Json:
    async with runtime.db.read() as conn:
        row = await service.get_message(conn, key, reader=seen.agent(agent.key))
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        (entry,) = await renderer.timeline_entries([row])
    return {"timeline_entry": entry}


@router.get(
    "/timeline-entries.get",
    tags=_TIMELINE,
    operation_id="timeline-entries.get",
    **answers(TimelineEntryResponse),
)
async def timeline_entries_get_query(
    runtime: RuntimeDep, principal: AgentDep, q: Annotated[TimelineEntryIdQuery, Query()]
) -> Json:
    return await _entry_view(runtime, service.message_key(q.id), _agent(principal))


@router.post(
    "/timeline-entries.get",
    tags=_TIMELINE,
    operation_id="timeline-entries.get.post",
    **answers(TimelineEntryResponse),
)
async def timeline_entries_get_body(
    runtime: RuntimeDep, principal: AgentDep, body: TimelineEntryIdRequest
) -> Json:
    return await _entry_view(runtime, service.message_key(body.id), _agent(principal))


def _no_entry(id_value: str) -> InvalidId:
    """DevRev's document has no 404 for ``.update`` and ``.delete``: an entry
    that does not exist (or went meanwhile) is a bad id, as for any other
    object a request names."""
    return InvalidId("id", f"no timeline entry has id {id_value}")


@router.post("/timeline-entries.update", tags=_TIMELINE, **answers(TimelineEntryResponse))
async def timeline_entries_update(
    runtime: RuntimeDep, principal: AgentDep, body: TimelineEntriesUpdateRequest
) -> Json:
    """The calling agent's own entry only (another's: 403; one that does not
    exist: 400 ``invalid_id``). The widget and
    the inbox show the new text live (``message.updated``). Its
    visibility stays: DevRev's update request has none."""
    key = service.message_key(body.id)
    agent = _agent(principal)
    try:
        await service.edit_message(runtime, key, agent, body.body)
        return await _entry_view(runtime, key, agent)
    except NotFound:
        raise _no_entry(body.id) from None


@router.post("/timeline-entries.delete", tags=_TIMELINE, **answers(Empty))
async def timeline_entries_delete(
    runtime: RuntimeDep, principal: AgentDep, body: TimelineEntryIdRequest
) -> Json:
    """The calling agent's own entry only (another's: 403); it disappears
    from the widget and the inbox live (``message.deleted``)."""
    try:
        await service.delete_message(runtime, service.message_key(body.id), _agent(principal))
    except NotFound:
        raise _no_entry(body.id) from None
    return {}


async def _timeline(runtime: Runtime, req: TimelineEntriesListRequest, agent: Author) -> Json:
    """Newest first, what the calling agent may see (another agent's
    private entries are left out). A cursor is the seq of the entry it
    stands at: ``mode: after`` (the default) continues with older entries,
    ``before`` with the newer ones just before it."""
    key = service.conversation_key(req.object, "object")
    at = records.decode_cursor(req.cursor) if req.cursor is not None else None
    out: Json = {}
    reader = seen.agent(agent.key)
    async with runtime.db.read() as conn:
        await service.get_conversation(conn, key)
        visibility = seen.check_filter(records.split_filter(req.visibility, req))
        rows: list[Any]
        if req.mode == "before":
            newer, more = await service.messages_after(
                conn, key, at or 0, req.limit, reader=reader, visibilities=visibility
            )
            rows = newer[::-1]
            if rows and more:
                out["prev_cursor"] = records.encode_cursor(int(rows[0]["seq"]))
            if rows and at is not None:
                out["next_cursor"] = records.encode_cursor(int(rows[-1]["seq"]))
        else:
            rows, next_seq = await service.messages_before(
                conn, key, at, req.limit, reader=reader, visibilities=visibility
            )
            if next_seq is not None:
                out["next_cursor"] = records.encode_cursor(next_seq)
            if rows and at is not None:
                out["prev_cursor"] = records.encode_cursor(int(rows[0]["seq"]))
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        entries = await renderer.timeline_entries(rows)
    return {"timeline_entries": entries, **out}


@router.get(
    "/timeline-entries.list",
    tags=_TIMELINE,
    operation_id="timeline-entries.list",
    **answers(TimelineEntriesListResponse),
)
async def timeline_entries_list_query(
    runtime: RuntimeDep, principal: AgentDep, q: Annotated[TimelineEntriesListQuery, Query()]
) -> Json:
    """Newest first, as DevRev lists a timeline."""
    return await _timeline(runtime, q, _agent(principal))


@router.post(
    "/timeline-entries.list",
    tags=_TIMELINE,
    operation_id="timeline-entries.list.post",
    **answers(TimelineEntriesListResponse),
)
async def timeline_entries_list_body(
    runtime: RuntimeDep, principal: AgentDep, body: TimelineEntriesListRequest
) -> Json:
    return await _timeline(runtime, body, _agent(principal))
