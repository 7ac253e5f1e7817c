"""Who may hear what on a realtime socket, and what a socket may say.

``visitor_socket_auth`` (the widget's ``/widget/socket``) and
``agent_socket_auth`` (the inbox's ``/inbox/socket``) check the first
frame's credential and return the socket's policy:

- a visitor may subscribe to ``conversation:<n>`` only when the HTTP API
  would show them that conversation (refused exactly like one that does
  not exist), and to their own ``user:<n>``;
- an agent may subscribe to any existing conversation and its
  ``notes:<n>`` (internal notes, never a visitor's), any ``user:<n>`` and
  ``inbox``.

Both replay missed messages from the database (``hub.replay_messages``)
and relay ``{"type": "typing", "conversation": <id>}`` to the others on a
conversation the socket is subscribed to; typing is never stored.

Each policy carries the socket's ``Credential`` (see
``realtime.credentials``): it expires with the token, and is checked again,
exactly as at auth, whenever ``credentials:rev_user:<n>`` (the visitor) or
``credentials:dev_user:<n>`` (the agent) announces a revocation. Every few
seconds the sweeper also re-checks all open sockets' credentials, one
batched read per kind (``SessionBatch``, ``AccessTokenBatch``), for ends
nobody announced.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass
from functools import partial
from typing import Any

from openplug.conversations import hub
from openplug.conversations.render import ConversationRenderer
from openplug.conversations.service import (
    VisitorScope,
    conversation_key,
    get_conversation,
    visible_conversation,
)
from openplug.db import Database
from openplug.errors import ApiError
from openplug.identity import access_tokens as tokens
from openplug.identity.principals import Principal, authenticate, refused_sessions, require_pat
from openplug.identity.session_tokens import SessionClaims
from openplug.ids import CONVERSATION, don
from openplug.realtime import (
    Authenticate,
    Credential,
    CredentialEnded,
    Event,
    FrameRefused,
    PublishFailed,
    Recheck,
    SocketPolicy,
    conversation_topic,
    credential_topic,
)
from openplug.runtime import Runtime
from openplug.widget.service import authenticate_visitor

# Typing frames beyond one per conversation per interval are dropped: a
# client repeats "still typing" every few seconds, a faulty one must not
# flood everyone watching.
TYPING_INTERVAL = 1.0


class ConversationSocketPolicy:
    """What visitor and agent sockets share: replay and typing."""

    def __init__(self, runtime: Runtime, me: dict[str, Any], credential: Credential) -> None:
        self.runtime = runtime
        self.me = me  # the public summary others see in typing events
        self.credential: Credential | None = credential
        self._typed_at: dict[str, float] = {}

    async def authorize(self, topic: str) -> bool:
        raise NotImplementedError

    async def replay(self, topic: str, after_seq: int) -> list[Event]:
        key = hub.topic_key(topic, "conversation")
        if key is None:
            return []  # only conversations have a message stream
        return await hub.replay_messages(self.runtime, key, after_seq)

    async def client_frame(self, frame: dict[str, Any], topics: frozenset[str]) -> None:
        if frame["type"] != "typing":
            raise FrameRefused("unknown_type", f"unknown {frame['type']!r}")
        value = frame.get("conversation")
        try:
            if not isinstance(value, str):
                raise ValueError
            key = conversation_key(value, "conversation")
        except (ValueError, ApiError):
            raise FrameRefused("invalid_conversation", "not a conversation id") from None
        topic = conversation_topic(key)
        if topic not in topics:
            raise FrameRefused("not_subscribed", "subscribe to the conversation first", topic)
        typing = frame.get("typing", True) is not False
        now = time.monotonic()
        if typing and now - self._typed_at.get(topic, -TYPING_INTERVAL) < TYPING_INTERVAL:
            return
        self._typed_at[topic] = now if typing else -TYPING_INTERVAL
        event: Event = {
            "type": "typing",
            "conversation": don(self.runtime.org_id, CONVERSATION, key),
            "author": self.me,
            "typing": typing,
        }
        try:
            await self.runtime.broker.publish(topic, event)
        except PublishFailed:
            raise FrameRefused("unavailable", "typing not sent; try again", topic) from None


class VisitorSocketPolicy(ConversationSocketPolicy):
    def __init__(
        self, runtime: Runtime, scope: VisitorScope, me: dict[str, Any], credential: Credential
    ) -> None:
        super().__init__(runtime, me, credential)
        self.scope = scope

    async def authorize(self, topic: str) -> bool:
        if (user_key := hub.topic_key(topic, "user")) is not None:
            return user_key == self.scope.rev_user_key
        key = hub.topic_key(topic, "conversation")
        if key is None:
            return False
        async with self.runtime.db.read() as conn:
            try:
                await visible_conversation(conn, key, self.scope)
            except ApiError:
                return False
        return True


class AgentSocketPolicy(ConversationSocketPolicy):
    async def authorize(self, topic: str) -> bool:
        if topic == hub.INBOX_TOPIC or hub.topic_key(topic, "user") is not None:
            return True
        key = hub.topic_key(topic, "conversation") or hub.topic_key(topic, hub.NOTES_PREFIX)
        if key is None:
            return False
        async with self.runtime.db.read() as conn:
            try:
                await get_conversation(conn, key)
            except ApiError:
                return False
        return True

    async def replay(self, topic: str, after_seq: int) -> list[Event]:
        key = hub.topic_key(topic, hub.NOTES_PREFIX)
        if key is None:
            return await super().replay(topic, after_seq)
        return await hub.replay_messages(self.runtime, key, after_seq, notes=True)


@dataclass(frozen=True, slots=True)
class SessionBatch:
    """Visitors' session tokens, re-checked many at once: user still active,
    sessions not revoked, the token not logged out. Equal for every socket
    of one database, so the sweeper asks once for all of them."""

    db: Database

    async def ended(
        self, sessions: Collection[SessionClaims]
    ) -> dict[SessionClaims, CredentialEnded]:
        refused = await refused_sessions(self.db, sessions)
        return {claims: CredentialEnded(why) for claims, why in refused.items()}


@dataclass(frozen=True, slots=True)
class AccessTokenBatch:
    """Agents' PATs and inbox sign-ins (by row key), re-checked many at once:
    not revoked, not expired, the agent still there."""

    db: Database

    async def ended(self, pks: Collection[int]) -> dict[int, CredentialEnded]:
        found = await tokens.tokens_by_pk(self.db, pks)
        ended: dict[int, CredentialEnded] = {}
        for pk in pks:
            token = found.get(pk)
            why = tokens.refusal(token)
            if why is not None:
                expired = token is not None and token.status == "expired"
                ended[pk] = CredentialEnded(why, expired=expired)
        await tokens.touch_in_use(self.db, [t for pk, t in found.items() if pk not in ended])
        return ended


async def _summary(runtime: Runtime, kind: str, key: int) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        summary = await ConversationRenderer(conn, runtime.org_id).user_summary(kind, key)
    return summary or hub.actor_ref(runtime.org_id, kind, key)


def visitor_socket_auth(runtime: Runtime) -> Authenticate:
    """First frame ``{"type": "auth", "token": <session token>, "app_id": ...}``:
    the same checks as every widget call (signature, app, expiry, revocation,
    the app's identification requirement)."""

    async def check(frame: dict[str, Any]) -> SocketPolicy | None:
        token, app_id = frame.get("token"), frame.get("app_id")
        if not isinstance(token, str) or not isinstance(app_id, str):
            return None
        try:
            visitor = await authenticate_visitor(runtime, token, app_id)
        except ApiError:
            return None
        credential = Credential(
            (credential_topic("rev_user", visitor.rev_user_key),),
            visitor.claims.expires_at.timestamp(),
            # A partial, not a closure: fewer objects held per open socket.
            partial(_visitor_still_valid, runtime, token, app_id),
            Recheck(SessionBatch(runtime.db), visitor.claims),
        )
        me = await _summary(runtime, "rev_user", visitor.rev_user_key)
        return VisitorSocketPolicy(runtime, visitor.scope, me, credential)

    return check


def agent_socket_auth(runtime: Runtime) -> Authenticate:
    """First frame ``{"type": "auth", "token": <PAT>}``."""

    async def check(frame: dict[str, Any]) -> SocketPolicy | None:
        token = frame.get("token")
        if not isinstance(token, str):
            return None
        try:
            principal = await _agent(runtime, token)
        except ApiError:
            return None
        access_token = principal.access_token
        if access_token is None:  # (require_pat admits PATs and sign-ins only)
            return None
        credential = Credential(
            (credential_topic("dev_user", principal.dev_user_id),),
            access_token.expires_at.timestamp(),
            partial(_agent_still_valid, runtime, token),
            Recheck(AccessTokenBatch(runtime.db), access_token.pk),
        )
        me = await _summary(runtime, "dev_user", principal.dev_user_id)
        return AgentSocketPolicy(runtime, me, credential)

    return check


async def _visitor_still_valid(runtime: Runtime, token: str, app_id: str) -> str | None:
    try:
        await authenticate_visitor(runtime, token, app_id)
    except ApiError as e:
        return e.message
    return None


async def _agent_still_valid(runtime: Runtime, token: str) -> str | None:
    try:
        await _agent(runtime, token)
    except ApiError as e:
        return e.message
    return None


async def _agent(runtime: Runtime, token: str) -> Principal:
    return require_pat(await authenticate(runtime, token))
