"""The calls the widget makes for one visitor, under ``/widget/``.

All are POST with a JSON body naming the ``app_id``; the session token goes
in ``Authorization`` (bare or ``Bearer``), the anonymous credential in the
body: neither ever travels in a URL. A visitor reaches only their own
conversations in that app; any other conversation is a 404, exactly like
one that does not exist.

Every call but ``session`` (which takes no token) checks the credential
before its body: a missing, malformed, expired, revoked or other app's
token is a 401 even when the body is wrong as well (see ``_visitor_call``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Request, Response, Security, WebSocket
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug import idempotency
from openplug.activity import service as activity
from openplug.activity.schemas import (
    SessionPropertiesRequest,
    SessionPropertiesResponse,
    TrackEventRequest,
)
from openplug.artifacts import routes as artifact_routes
from openplug.artifacts.attach import message_parts
from openplug.artifacts.schemas import (
    ArtifactsGetResponse,
    ArtifactsLocateResponse,
    ArtifactsPrepareRequest,
    ArtifactsPrepareResponse,
)
from openplug.artifacts.service import Links, Party
from openplug.audit import Actor
from openplug.availability import availability_at
from openplug.availability.away import (
    app_schedule,
    availability_json,
    away_message_now,
    post_away_message_if_away,
)
from openplug.conversations import service as conversations
from openplug.conversations import visibility as seen
from openplug.conversations.render import ConversationRenderer
from openplug.conversations.service import Author, PostedMessage
from openplug.conversations.sockets import visitor_socket_auth
from openplug.db.base import utcnow
from openplug.errors import ApiError, InvalidField
from openplug.idempotency import IdempotencyKey
from openplug.mail.visitor_settings import (
    settings_json,
    update_visitor_mail,
    visitor_mail_settings,
)
from openplug.realtime.starlette_transport import serve_socket
from openplug.runtime import Runtime
from openplug.web.client_address import client_address
from openplug.web.deps import RuntimeDep, runtime_of
from openplug.web.errors import ApiErrorWhileReading
from openplug.web.fast_routes import documented_as, hand_served, json_body
from openplug.web.openapi import Empty, answers, body_of
from openplug.web.validation import error_from_validation
from openplug.widget import service, unverified
from openplug.widget.schemas import (
    ArtifactRequest,
    ArtifactsPrepareWidgetRequest,
    ConversationRequest,
    IdentifyRequest,
    IdentityUpdateRequest,
    MailSettingsResponse,
    MailSettingsUpdateRequest,
    MarkReadRequest,
    MarkReadResponse,
    MergeRequest,
    MergeResponse,
    MessagesCreateRequest,
    MessagesListRequest,
    SessionRequest,
    SessionResponse,
    VisitorConversationResponse,
    VisitorConversationsCreateRequest,
    VisitorConversationsListRequest,
    VisitorConversationsListResponse,
    VisitorMessageResponse,
    VisitorMessagesListResponse,
    WidgetConfigResponse,
    WidgetRequest,
)
from openplug.widget.service import AnonymousSession
from openplug.widget.unverified import UnverifiedSession

logger = logging.getLogger(__name__)
router = APIRouter(prefix="/widget", tags=["widget"])
Json = dict[str, Any]
RECENT_IN_GET = 50

_session_header = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="The visitor's session token, bare or as `Bearer <token>`.",
)
SessionHeader = Annotated[str | None, Security(_session_header)]

Body = TypeVar("Body", bound=WidgetRequest)
# The bodies the visitor's calls parse themselves, for the OpenAPI document.
HAND_PARSED_BODIES: list[type[BaseModel]] = []


@dataclass(frozen=True)
class VisitorCall(Generic[Body]):
    visitor: service.Visitor
    body: Body


def _visitor_call(model: type[Body]) -> Callable[..., Awaitable[VisitorCall[Body]]]:
    """The dependency of a visitor's call whose JSON body is ``model``:
    authenticated before the body is judged.

    The token is checked against the app the body names, so FastAPI's own
    body handling (which parses and refuses a body before any dependency
    runs) would answer a missing or expired token with a 400 whenever the
    body was wrong too, and the widget would show an error instead of
    asking for a new token. Here a missing or malformed credential is a
    401 before the body is read; a body that fails validation is answered
    400 only once the token has been checked as far as it can be (against
    the body's ``app_id`` when it has a usable one, else without it).
    """
    if model not in HAND_PARSED_BODIES:
        HAND_PARSED_BODIES.append(model)

    async def visitor_call(request: Request, authorization: SessionHeader) -> VisitorCall[Body]:
        return await _read_visitor_call(request, authorization, model)

    return visitor_call


async def _read_visitor_call(
    request: Request, authorization: str | None, model: type[Body]
) -> VisitorCall[Body]:
    """``_visitor_call``'s checks, for a dependency or a hand-served route."""
    runtime = runtime_of(request)
    token = await service.session_token_in(runtime, authorization)
    raw: bytes | None = None
    problem: ApiError
    try:
        raw = await request.body()
        body = model.model_validate_json(raw)
    except ApiErrorWhileReading as e:  # e.g. a NUL character (web.text_guard)
        raw, problem = e.body, e.error
    except ValidationError as e:
        problem = error_from_validation(e)
    else:
        visitor = await service.authenticate_visitor(runtime, token, body.app_id)
        return VisitorCall(visitor, body)
    await service.refuse_bad_credential(runtime, token, _app_id_in(raw))
    raise problem


def _authorization(request: Request) -> str | None:
    """The header as ``SessionHeader`` reads it (empty is absent)."""
    return request.headers.get("authorization") or None


def _json_answer(answer: Json, status_code: int = 200) -> Response:
    """What FastAPI sends for an endpoint's JSON-native dict without a
    response model: ``JSONResponse``'s bytes (``jsonable_encoder`` would
    change nothing in these answers)."""
    return JSONResponse(answer, status_code=status_code)


def _app_id_in(raw: bytes | None) -> str | None:
    """The ``app_id`` of a body that failed validation, if it names one."""
    try:
        data = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None
    app_id = data.get("app_id") if isinstance(data, dict) else None
    return app_id if isinstance(app_id, str) else None


def _call(model: type[Body]) -> Any:
    """``Depends`` on the visitor and ``model`` body of a call."""
    return Depends(_visitor_call(model))


PlainCall = Annotated[VisitorCall[WidgetRequest], _call(WidgetRequest)]
MergeCall = Annotated[VisitorCall[MergeRequest], _call(MergeRequest)]
ListCall = Annotated[
    VisitorCall[VisitorConversationsListRequest], _call(VisitorConversationsListRequest)
]
GetCall = Annotated[VisitorCall[ConversationRequest], _call(ConversationRequest)]
CreateCall = Annotated[
    VisitorCall[VisitorConversationsCreateRequest], _call(VisitorConversationsCreateRequest)
]
PostCall = Annotated[VisitorCall[MessagesCreateRequest], _call(MessagesCreateRequest)]
MessagesCall = Annotated[VisitorCall[MessagesListRequest], _call(MessagesListRequest)]
MarkReadCall = Annotated[VisitorCall[MarkReadRequest], _call(MarkReadRequest)]
MailUpdateCall = Annotated[VisitorCall[MailSettingsUpdateRequest], _call(MailSettingsUpdateRequest)]
IdentityUpdateCall = Annotated[VisitorCall[IdentityUpdateRequest], _call(IdentityUpdateRequest)]
TrackCall = Annotated[VisitorCall[TrackEventRequest], _call(TrackEventRequest)]
PrepareCall = Annotated[
    VisitorCall[ArtifactsPrepareWidgetRequest], _call(ArtifactsPrepareWidgetRequest)
]
ArtifactCall = Annotated[VisitorCall[ArtifactRequest], _call(ArtifactRequest)]
SessionPropertiesCall = Annotated[
    VisitorCall[SessionPropertiesRequest], _call(SessionPropertiesRequest)
]


def _me(visitor: service.Visitor) -> Author:
    return Author("rev_user", visitor.rev_user_key)


async def _render_conversation(
    runtime: Runtime, conn: AsyncConnection, visitor: service.Visitor, key: int
) -> Json:
    row = await conversations.visible_conversation(conn, key, visitor.scope)
    renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
    (view,) = await renderer.visitor_conversations(
        [row], visitor.rev_user_key, with_messages=RECENT_IN_GET
    )
    return view


async def _conversation_view(runtime: Runtime, visitor: service.Visitor, key: int) -> Json:
    async with runtime.db.read() as conn:
        return await _render_conversation(runtime, conn, visitor, key)


async def _count_message(runtime: Runtime, visitor: service.Visitor) -> None:
    """``OPENPLUG_MESSAGES_PER_VISITOR_PER_MINUTE``, counted for writes only
    (a replayed answer is no new message)."""
    await runtime.visitor_messages.admit(
        f"{visitor.app.pk}:{visitor.rev_user_key}",
        "too many messages from this visitor; try again in a minute",
    )


def _idempotent(
    key: str | None, visitor: service.Visitor, route: str, body: BaseModel
) -> idempotency.IdempotentCall | None:
    scope = idempotency.visitor_scope(visitor.app.pk, visitor.rev_user_key)
    return idempotency.IdempotentCall.of(key, scope=scope, route=route, body=body)


async def _away_after(runtime: Runtime, key: int, app_pk: int) -> None:
    """The away message, after the visitor's (so it comes second on every
    socket). The visitor's message is committed by then and its answer
    built: a failure here is logged, never a 500 for a message that exists
    (which the widget would send again)."""
    try:
        await post_away_message_if_away(runtime, key, app_pk)
    except Exception:
        logger.exception("away message not posted in conversation %s", key)


# The widget's hot calls (every anonymous page view renews its session,
# every opening lists the conversations, every message posts) are served
# by hand (``web.fast_routes``): FastAPI's dependency solving, body handling
# and response encoding cost more than their work. Each is documented by
# the declaration it had, and checks what that declaration did, in order.
# Their docstrings are the document's descriptions: why is in comments.


def _session_declaration(runtime: RuntimeDep, request: Request, body: SessionRequest) -> None:
    """For the document only (``documented_as``)."""


@hand_served(router, "/session", methods=["POST"], **answers(SessionResponse, rate_limited=True))
@documented_as(_session_declaration)
async def widget_session(request: Request) -> Response:
    """An anonymous visitor's session token. Without ``anonymous_credential``
    this creates the visitor and returns its credential, once: keep it in
    the browser and send it next time to stay the same visitor."""
    body = await json_body(request, SessionRequest)
    runtime = runtime_of(request)
    # Counted like every per-address limit (an IPv6 client by its /64).
    session = await service.start_anonymous_session(
        runtime, body.app_id, body.anonymous_credential, client_address(request)
    )
    out = _session_answer(runtime, session)
    if session.anonymous_credential is not None:
        out["anonymous_credential"] = session.anonymous_credential
    return _json_answer(out)


@router.post("/identify", **answers(SessionResponse, rate_limited=True))
async def widget_identify(runtime: RuntimeDep, request: Request, body: IdentifyRequest) -> Json:
    """``plugSDK.init({identity})``: a session token for the visitor the page
    names by ``user_ref``, without a session token from the site's backend.
    The user is unverified and stays so: it never becomes or merges into a
    verified user, and a ref a verified user has is refused (409)."""
    traits = {} if body.user_traits is None else body.user_traits.model_dump(exclude_unset=True)
    session = await unverified.identify_unverified(
        runtime, body.app_id, body.user_ref, traits, client_address(request)
    )
    return _session_answer(runtime, session)


def _session_answer(runtime: Runtime, session: AnonymousSession | UnverifiedSession) -> Json:
    """A visitor's new widget session (anonymous or named by the page),
    as ``/widget/session`` and ``/widget/identify`` answer it."""
    return {
        "session_token": session.session_token,
        "token_type": "bearer",
        "expires_in": session.expires_in,
        "user": {
            "id": conversations.don_of_rev_user(runtime.org_id, session.rev_user_key),
            "display_name": session.display_name,
            "is_verified": False,
        },
    }


@router.post("/identity.update", openapi_extra=body_of(IdentityUpdateRequest), **answers(Empty))
async def widget_identity_update(runtime: RuntimeDep, call: IdentityUpdateCall) -> Json:
    """``plugSDK.updateIdentity({user_traits})`` for a visitor the page
    identified (403 for anonymous and verified visitors)."""
    await unverified.update_identity(
        runtime, call.visitor, call.body.user_traits.model_dump(exclude_unset=True)
    )
    return {}


@router.post("/events.track", openapi_extra=body_of(TrackEventRequest), **answers(Empty))
async def widget_events_track(runtime: RuntimeDep, call: TrackCall) -> Json:
    """``plugSDK.trackEvent(event_name, properties)``: kept for agents to see
    (the visitor's latest ``activity.rules.MAX_EVENTS``)."""
    body = call.body
    await activity.record_event(
        runtime, call.visitor.rev_user_key, body.event_name, body.properties, body.page_url
    )
    return {}


@router.post(
    "/visit-properties.add",
    openapi_extra=body_of(SessionPropertiesRequest),
    **answers(SessionPropertiesResponse),
)
async def widget_session_properties_add(runtime: RuntimeDep, call: SessionPropertiesCall) -> Json:
    """``plugSDK.addSessionProperties({...})``, and the page the visitor is on."""
    body = call.body
    merged = await activity.add_session_properties(
        runtime, call.visitor.rev_user_key, body.properties, body.page_url
    )
    return {"session_properties": merged}


@router.post("/logout", openapi_extra=body_of(WidgetRequest), **answers(Empty))
async def widget_logout(runtime: RuntimeDep, call: PlainCall) -> Json:
    """This session token stops working at once."""
    await service.end_session(runtime, call.visitor)
    return {}


@router.post("/merge", openapi_extra=body_of(MergeRequest), **answers(MergeResponse))
async def widget_merge(runtime: RuntimeDep, request: Request, call: MergeCall) -> Json:
    """With an identified visitor's token: take over the conversations of the
    anonymous visitor this browser was before."""
    actor = Actor("rev_user", call.visitor.rev_user_key, "session", client_address(request))
    result = await service.merge_anonymous_visitor(
        runtime, call.visitor, call.body.anonymous_credential, actor=actor
    )
    return {"merged": True, "conversations_moved": result.conversations_moved}


def _list_declaration(runtime: RuntimeDep, call: ListCall) -> None:
    """For the document only (``documented_as``)."""


@hand_served(
    router,
    "/conversations.list",
    methods=["POST"],
    openapi_extra=body_of(VisitorConversationsListRequest),
    **answers(VisitorConversationsListResponse),
)
@documented_as(_list_declaration)
async def widget_conversations_list(request: Request) -> Response:
    call = await _read_visitor_call(
        request, _authorization(request), VisitorConversationsListRequest
    )
    runtime = runtime_of(request)
    visitor, body = call.visitor, call.body
    async with runtime.db.read() as conn:
        rows, cursor, _ = await conversations.list_conversations(
            conn, scope=visitor.scope, cursor=body.cursor, limit=body.limit
        )
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        views = await renderer.visitor_conversations(rows, visitor.rev_user_key)
        # Who the widget is talking to: after the site signs its visitor in
        # the frame has only a token, and its header names the person.
        user = await renderer.user_summary("rev_user", visitor.rev_user_key)
    return _json_answer({"conversations": views, "next_cursor": cursor, "user": user})


@router.post(
    "/conversations.get",
    openapi_extra=body_of(ConversationRequest),
    **answers(VisitorConversationResponse),
)
async def widget_conversations_get(runtime: RuntimeDep, call: GetCall) -> Json:
    key = conversations.conversation_key(call.body.conversation, "conversation")
    return {"conversation": await _conversation_view(runtime, call.visitor, key)}


@router.post(
    "/conversations.create",
    openapi_extra=body_of(VisitorConversationsCreateRequest),
    **answers(VisitorConversationResponse, 201, rate_limited=True),
)
async def widget_conversations_create(
    runtime: RuntimeDep,
    call: CreateCall,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> Json:
    """Start a conversation by sending its first message."""
    visitor, body = call.visitor, call.body
    once = _idempotent(idempotency_key, visitor, "widget.conversations.create", body)
    text, artifact_keys = message_parts(body.body, body.artifacts)

    async def write(remember: idempotency.Remember | None) -> Json:
        await _count_message(runtime, visitor)
        answer: Json = {}

        async def render(conn: AsyncConnection, key: int) -> None:
            answer["conversation"] = await _render_conversation(runtime, conn, visitor, key)
            if remember is not None:
                await remember(conn, answer)

        await conversations.create_conversation(
            runtime,
            member_keys=[visitor.rev_user_key],
            bodies=[text],
            artifacts=[artifact_keys],
            artifacts_field="artifacts",
            author=_me(visitor),
            title=body.title,
            app_pk=visitor.app.pk,
            also_write=render,
            # In the same transaction, so the answer (and its replay) has it.
            automated_body=await away_message_now(runtime, visitor.app.pk),
        )
        return answer

    return await idempotency.once(runtime, once, response, 201, write)


def _post_declaration(
    runtime: RuntimeDep,
    call: PostCall,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> None:
    """For the document only (``documented_as``)."""


@hand_served(
    router,
    "/messages.create",
    methods=["POST"],
    openapi_extra=body_of(MessagesCreateRequest),
    **answers(VisitorMessageResponse, 201, rate_limited=True),
)
@documented_as(_post_declaration)
async def widget_messages_create(request: Request) -> Response:
    call = await _read_visitor_call(request, _authorization(request), MessagesCreateRequest)
    runtime = runtime_of(request)
    # Read after the credential and the body, as FastAPI solved it.
    idempotency_key = request.headers.get(idempotency.HEADER)
    visitor, body = call.visitor, call.body
    key = conversations.conversation_key(body.conversation, "conversation")
    seen.check_visitor_post(body.visibility)
    once = _idempotent(idempotency_key, visitor, "widget.messages.create", body)
    text, artifact_keys = message_parts(body.body, body.artifacts)

    async def write(remember: idempotency.Remember | None) -> Json:
        await _count_message(runtime, visitor)
        answer: Json = {}

        async def render(conn: AsyncConnection, posted: PostedMessage) -> None:
            renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
            mine = visitor.rev_user_key
            (answer["message"],) = await renderer.visitor_messages([posted.row], mine)
            if remember is not None:
                await remember(conn, answer)

        await conversations.post_message(
            runtime, key, _me(visitor), text, scope=visitor.scope,
            artifact_keys=artifact_keys, also_write=render,
        )  # fmt: skip
        await _away_after(runtime, key, visitor.app.pk)
        return answer

    # A replayed answer sets its own status and header here, as on the
    # sub-response FastAPI would have passed in.
    replay = Response(status_code=201)
    answer = await idempotency.once(runtime, once, replay, 201, write)
    out = _json_answer(answer, replay.status_code)
    out.headers.raw.extend(
        (name, value) for name, value in replay.headers.raw if name != b"content-length"
    )
    return out


@router.post(
    "/messages.list",
    openapi_extra=body_of(MessagesListRequest),
    **answers(VisitorMessagesListResponse),
)
async def widget_messages_list(runtime: RuntimeDep, call: MessagesCall) -> Json:
    """Oldest first from ``after_seq``: a client that saw seq n sends n and
    gets exactly what it missed; ``has_more`` says to ask again."""
    visitor, body = call.visitor, call.body
    key = conversations.conversation_key(body.conversation, "conversation")
    async with runtime.db.read() as conn:
        await conversations.visible_conversation(conn, key, visitor.scope)
        rows, more = await conversations.messages_after(
            conn, key, body.after_seq, body.limit, reader=seen.VISITOR
        )
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        items = await renderer.visitor_messages(rows, visitor.rev_user_key)
    return {"messages": items, "has_more": more}


@router.post(
    "/conversations.mark-read",
    openapi_extra=body_of(MarkReadRequest),
    **answers(MarkReadResponse),
)
async def widget_conversations_mark_read(runtime: RuntimeDep, call: MarkReadCall) -> Json:
    """Read up to ``seq`` (default: everything so far); never moves back."""
    visitor, body = call.visitor, call.body
    key = conversations.conversation_key(body.conversation, "conversation")
    last_read = await conversations.mark_read(
        runtime, key, _me(visitor), body.seq, scope=visitor.scope
    )
    return {"last_read_seq": last_read}


def _party(visitor: service.Visitor) -> Party:
    return Party("rev_user", visitor.rev_user_key, visitor.app.pk)


@router.post(
    "/artifacts.prepare",
    openapi_extra=body_of(ArtifactsPrepareWidgetRequest),
    **answers(ArtifactsPrepareResponse),
)
async def widget_artifacts_prepare(runtime: RuntimeDep, call: PrepareCall) -> Json:
    """``artifacts.prepare`` for the visitor: then POST the file to ``url``
    (multipart/form-data, the ``form_data`` fields first), then name the
    artifact in ``messages.create``'s ``artifacts``."""
    b = call.body
    request = ArtifactsPrepareRequest(
        file_name=b.file_name, file_type=b.file_type, configuration_set=b.configuration_set,
        file_size=b.file_size,
    )  # fmt: skip
    return await artifact_routes.prepare_json(runtime, _party(call.visitor), request)


@router.post(
    "/artifacts.get", openapi_extra=body_of(ArtifactRequest), **answers(ArtifactsGetResponse)
)
async def widget_artifacts_get(runtime: RuntimeDep, call: ArtifactCall) -> Json:
    """An artifact the visitor uploaded, or one in their conversations."""
    return await artifact_routes.get_json(runtime, _party(call.visitor), call.body.id)


@router.post(
    "/artifacts.locate",
    openapi_extra=body_of(ArtifactRequest),
    **answers(ArtifactsLocateResponse),
)
async def widget_artifacts_locate(runtime: RuntimeDep, call: ArtifactCall) -> Json:
    """A short-lived download URL for an artifact the visitor may read."""
    return await artifact_routes.locate_json(runtime, _party(call.visitor), call.body.id)


@router.post("/config", **answers(WidgetConfigResponse))
async def widget_config(runtime: RuntimeDep, body: WidgetRequest) -> Json:
    """What the widget shows before anyone writes: whether the team is in
    now and its expected reply time. Public like the frame page (no token:
    page views create no visitor); the widget asks again when it opens and
    when the team is due back."""
    row = await app_schedule(runtime, body.app_id)
    if row is None:
        raise InvalidField("app_id", "no app has this app_id")
    return {"availability": availability_json(row, availability_at(row, utcnow()))}


@router.post(
    "/mail-settings.get", openapi_extra=body_of(WidgetRequest), **answers(MailSettingsResponse)
)
async def widget_mail_settings_get(runtime: RuntimeDep, call: PlainCall) -> Json:
    """Where this visitor's replies by email go (masked), and whether they go."""
    async with runtime.db.read() as conn:
        settings = await visitor_mail_settings(conn, call.visitor.rev_user_key)
    return {"mail_settings": settings_json(settings)}


@router.post(
    "/mail-settings.update",
    openapi_extra=body_of(MailSettingsUpdateRequest),
    **answers(MailSettingsResponse),
)
async def widget_mail_settings_update(runtime: RuntimeDep, call: MailUpdateCall) -> Json:
    """Leave an address for replies by email (an unverified claim, never the
    visitor's identity), unsubscribe, or undo an unsubscribe."""
    settings = await update_visitor_mail(
        runtime, call.visitor.rev_user_key, email=call.body.email, subscribed=call.body.subscribed
    )
    return {"mail_settings": settings_json(settings)}


# Served by ``SocketEndpoints`` (see ``app.create_app``), not the router.
async def widget_socket(websocket: WebSocket) -> None:
    """The visitor's live events. The first frame is ``{"type": "auth",
    "token": <session token>, "app_id": ...}`` (never the URL); then
    ``subscribe`` to ``user:<n>`` and ``conversation:<n>`` topics (see
    ``openplug.realtime.socket_session`` and ``conversations.hub``)."""
    runtime = runtime_of(websocket)
    await serve_socket(
        websocket, runtime.broker, visitor_socket_auth(runtime), limits=runtime.socket_limits
    )
