"""The calls the widget makes for one visitor, under ``/widget/``.

All are POST with a JSON body naming the ``app_id``; the session token goes
in ``Authorization`` (bare or ``Bearer``), the anonymous credential in the
body: neither ever travels in a URL. A visitor reaches only their own
conversations in that app; any other conversation is a 404, exactly like
one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Security, WebSocket
from fastapi.security import APIKeyHeader

from openplug.conversations import service as conversations
from openplug.conversations.render import ConversationRenderer
from openplug.conversations.service import Author
from openplug.conversations.sockets import visitor_socket_auth
from openplug.realtime.starlette_transport import serve_socket
from openplug.runtime import Runtime
from openplug.web.deps import RuntimeDep, runtime_of
from openplug.web.openapi import Empty, answers
from openplug.widget import service
from openplug.widget.schemas import (
    ConversationRequest,
    ConversationResponse,
    ConversationsCreateRequest,
    ConversationsListRequest,
    ConversationsListResponse,
    MarkReadRequest,
    MarkReadResponse,
    MergeRequest,
    MergeResponse,
    MessageResponse,
    MessagesCreateRequest,
    MessagesListRequest,
    MessagesListResponse,
    SessionRequest,
    SessionResponse,
    WidgetRequest,
)

router = APIRouter(prefix="/widget", tags=["widget"])
Json = dict[str, Any]
RECENT_IN_GET = 50

_session_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="The visitor's session token, bare or as `Bearer <token>`.",
)
SessionHeader = Annotated[str | None, Security(_session_header)]


async def _visitor(
    runtime: Runtime, authorization: str | None, body: WidgetRequest
) -> service.Visitor:
    return await service.authenticate_visitor(runtime, authorization, body.app_id)


def _me(visitor: service.Visitor) -> Author:
    return Author("rev_user", visitor.rev_user_key)


async def _conversation_view(runtime: Runtime, visitor: service.Visitor, key: int) -> Json:
    async with runtime.db.read() as conn:
        row = await conversations.visible_conversation(conn, key, visitor.scope)
        renderer = ConversationRenderer(conn, runtime.org_id)
        (view,) = await renderer.visitor_conversations(
            [row], visitor.rev_user_key, with_messages=RECENT_IN_GET
        )
    return view


@router.post("/session", **answers(SessionResponse, rate_limited=True))
async def widget_session(runtime: RuntimeDep, request: Request, body: SessionRequest) -> Json:
    """An anonymous visitor's session token. Without ``anonymous_credential``
    this creates the visitor and returns its credential, once: keep it in
    the browser and send it next time to stay the same visitor."""
    # Behind a reverse proxy this is the visitor's address only when uvicorn
    # trusts the proxy's X-Forwarded-For (--forwarded-allow-ips).
    address = request.client.host if request.client else "unknown"
    session = await service.start_anonymous_session(
        runtime, body.app_id, body.anonymous_credential, address
    )
    out: Json = {
        "session_token": session.session_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
        "user": {
            "id": conversations.don_of_rev_user(runtime.org_id, session.rev_user_key),
            "display_name": session.display_name,
            "is_verified": False,
        },
    }
    if session.anonymous_credential is not None:
        out["anonymous_credential"] = session.anonymous_credential
    return out


@router.post("/logout", **answers(Empty))
async def widget_logout(
    runtime: RuntimeDep, authorization: SessionHeader, body: WidgetRequest
) -> Json:
    """This session token stops working at once."""
    await service.end_session(runtime, await _visitor(runtime, authorization, body))
    return {}


@router.post("/merge", **answers(MergeResponse))
async def widget_merge(
    runtime: RuntimeDep, authorization: SessionHeader, body: MergeRequest
) -> Json:
    """With an identified visitor's token: take over the conversations of the
    anonymous visitor this browser was before."""
    visitor = await _visitor(runtime, authorization, body)
    result = await service.merge_anonymous_visitor(runtime, visitor, body.anonymous_credential)
    return {"merged": True, "conversations_moved": result.conversations_moved}


@router.post("/conversations.list", **answers(ConversationsListResponse))
async def widget_conversations_list(
    runtime: RuntimeDep, authorization: SessionHeader, body: ConversationsListRequest
) -> Json:
    visitor = await _visitor(runtime, authorization, body)
    async with runtime.db.read() as conn:
        rows, cursor = await conversations.list_conversations(
            conn, scope=visitor.scope, cursor=body.cursor, limit=body.limit
        )
        renderer = ConversationRenderer(conn, runtime.org_id)
        views = await renderer.visitor_conversations(rows, visitor.rev_user_key)
    return {"conversations": views, "next_cursor": cursor}


@router.post("/conversations.get", **answers(ConversationResponse))
async def widget_conversations_get(
    runtime: RuntimeDep, authorization: SessionHeader, body: ConversationRequest
) -> Json:
    visitor = await _visitor(runtime, authorization, body)
    key = conversations.conversation_key(body.conversation, "conversation")
    return {"conversation": await _conversation_view(runtime, visitor, key)}


@router.post("/conversations.create", **answers(ConversationResponse, 201))
async def widget_conversations_create(
    runtime: RuntimeDep, authorization: SessionHeader, body: ConversationsCreateRequest
) -> Json:
    """Start a conversation by sending its first message."""
    visitor = await _visitor(runtime, authorization, body)
    key = await conversations.create_conversation(
        runtime,
        member_keys=[visitor.rev_user_key],
        bodies=[body.body],
        author=_me(visitor),
        title=body.title,
        app_pk=visitor.app.pk,
    )
    return {"conversation": await _conversation_view(runtime, visitor, key)}


@router.post("/messages.create", **answers(MessageResponse, 201))
async def widget_messages_create(
    runtime: RuntimeDep, authorization: SessionHeader, body: MessagesCreateRequest
) -> Json:
    visitor = await _visitor(runtime, authorization, body)
    key = conversations.conversation_key(body.conversation, "conversation")
    posted = await conversations.post_message(
        runtime, key, _me(visitor), body.body, scope=visitor.scope
    )
    async with runtime.db.read() as conn:
        rows, _ = await conversations.messages_after(conn, key, posted.seq - 1, 1)
        renderer = ConversationRenderer(conn, runtime.org_id)
        (message,) = await renderer.visitor_messages(rows, visitor.rev_user_key)
    return {"message": message}


@router.post("/messages.list", **answers(MessagesListResponse))
async def widget_messages_list(
    runtime: RuntimeDep, authorization: SessionHeader, body: MessagesListRequest
) -> Json:
    """Oldest first from ``after_seq``: a client that saw seq n sends n and
    gets exactly what it missed; ``has_more`` says to ask again."""
    visitor = await _visitor(runtime, authorization, body)
    key = conversations.conversation_key(body.conversation, "conversation")
    async with runtime.db.read() as conn:
        await conversations.visible_conversation(conn, key, visitor.scope)
        rows, more = await conversations.messages_after(conn, key, body.after_seq, body.limit)
        renderer = ConversationRenderer(conn, runtime.org_id)
        items = await renderer.visitor_messages(rows, visitor.rev_user_key)
    return {"messages": items, "has_more": more}


@router.post("/conversations.mark-read", **answers(MarkReadResponse))
async def widget_conversations_mark_read(
    runtime: RuntimeDep, authorization: SessionHeader, body: MarkReadRequest
) -> Json:
    """Read up to ``seq`` (default: everything so far); never moves back."""
    visitor = await _visitor(runtime, authorization, body)
    key = conversations.conversation_key(body.conversation, "conversation")
    last_read = await conversations.mark_read(
        runtime, key, _me(visitor), body.seq, scope=visitor.scope
    )
    return {"last_read_seq": last_read}


# Served by ``SocketEndpoints`` (see ``app.create_app``), not the router.
async def widget_socket(websocket: WebSocket) -> None:
    """The visitor's live events. The first frame is ``{"type": "auth",
    "token": <session token>, "app_id": ...}`` (never the URL); then
    ``subscribe`` to ``user:<n>`` and ``conversation:<n>`` topics (see
    ``openplug.realtime.socket_session`` and ``conversations.hub``)."""
    runtime = runtime_of(websocket)
    await serve_socket(websocket, runtime.broker, visitor_socket_auth(runtime))
