"""The rules of the widget's visitors: anonymous sessions, who a session
token is, logout and the anonymous-to-identified merge.

Identity is only ever proven by a session token (or, for an anonymous
visitor, the anonymous credential their browser keeps). Every conversation
call takes a ``Visitor`` from ``authenticate_visitor`` and reaches data only
through its ``scope``.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.conversations.events import ConversationChange, publish_changes
from openplug.conversations.service import VisitorScope, move_member_conversations
from openplug.crm.changes import CrmChange, CrmHook, run_crm_hooks_async
from openplug.crm.friendly_names import friendly_name
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.db.point_reads import PointRead
from openplug.errors import Conflict, Forbidden, InvalidField, Unauthenticated
from openplug.identity.access_tokens import token_digest, token_kind_of
from openplug.identity.principals import (
    authenticate_access_token,
    bare_token,
    verify_session_token,
)
from openplug.identity.revoked_sessions import revoke_session
from openplug.identity.session_tokens import (
    SESSION_DEFAULT_MINUTES,
    SessionClaims,
    mint_session_token,
)
from openplug.identity.tables import apps
from openplug.ids import REV_USER, display_id, don
from openplug.realtime import announce_revoked
from openplug.runtime import Runtime
from openplug.widget.tables import anonymous_credentials, visitor_merges

ANONYMOUS_CREDENTIAL_PREFIX = "opl_anon_"


@dataclass(frozen=True)
class WidgetApp:
    pk: int
    app_id: str
    require_identification: bool


@dataclass(frozen=True)
class Visitor:
    """The rev user a verified session token names, in the app it names."""

    rev_user_key: int
    app: WidgetApp
    claims: SessionClaims

    @property
    def verified(self) -> bool:
        return self.claims.verified

    @property
    def scope(self) -> VisitorScope:
        return VisitorScope(self.rev_user_key, self.app.pk)


@dataclass(frozen=True)
class AnonymousSession:
    rev_user_key: int
    display_name: str
    session_token: str
    expires_in: int
    # Only when the visitor was created by this call: shown once.
    anonymous_credential: str | None


@dataclass(frozen=True)
class MergeResult:
    anonymous_rev_user_key: int
    conversations_moved: int


_APP = PointRead(
    select(apps.c.id, apps.c.app_id, apps.c.require_identification).where(
        apps.c.app_id == bindparam("app_id")
    )
)


async def find_app(runtime: Runtime, app_id: str) -> WidgetApp | None:
    row = await runtime.db.points.one(_APP, app_id=app_id)
    if row is None:
        return None
    return WidgetApp(int(row["id"]), str(row["app_id"]), bool(row["require_identification"]))


async def session_token_in(runtime: Runtime, authorization: str | None) -> str:
    """The session token ``authorization`` carries; 401 when it carries none
    (told apart from the body: a widget call checks it before its body), 403
    for a live PAT or AAT (the wrong kind, as the agents' calls answer a
    session token)."""
    token = bare_token(authorization)
    if token_kind_of(token) is not None:
        await authenticate_access_token(runtime, token)  # 401 when not usable at all
        raise Forbidden("the widget's calls take the visitor's session token, not a PAT or an AAT")
    if token.count(".") != 2:
        raise Unauthenticated("the widget's calls take the visitor's session token")
    return token


async def authenticate_visitor(runtime: Runtime, authorization: str | None, app_id: str) -> Visitor:
    """401 unless ``authorization`` holds a live session token for ``app_id``;
    403 for an anonymous visitor's token once the app requires identification."""
    token = await session_token_in(runtime, authorization)
    claims = await verify_session_token(runtime, token, app_id)
    app = await find_app(runtime, app_id)
    if app is None:
        raise Unauthenticated("session token belongs to another app")
    if app.require_identification and not claims.verified:
        raise Forbidden("this app requires identified visitors (a session token from the site)")
    return Visitor(claims.rev_user_key, app, claims)


async def refuse_bad_credential(runtime: Runtime, token: str, app_id: str | None) -> None:
    """Raise the 401 (or 403) ``authenticate_visitor`` would, as far as it
    can be told without a valid body: for a widget call whose body failed
    validation, so that a bad credential is still answered first. Without
    an ``app_id`` to hold it to, everything but the app is checked."""
    if app_id is None:
        await verify_session_token(runtime, token, None)
    else:
        await authenticate_visitor(runtime, token, app_id)


def mint_visitor_token(
    runtime: Runtime, rev_user_key: int, created_at: datetime, app_id: str
) -> tuple[str, int]:
    """An unverified visitor's session token (anonymous, or identified by the
    page alone): only a site's backend, with its AAT, mints verified ones."""
    if runtime.metrics is not None:
        runtime.metrics.tokens_minted.inc()
    token = mint_session_token(
        runtime.secrets,
        org_id=runtime.org_id,
        rev_user_key=rev_user_key,
        rev_user_created_at=created_at,
        rev_user_don=don(runtime.org_id, REV_USER, rev_user_key),
        app_id=app_id,
        expires_in_mins=SESSION_DEFAULT_MINUTES,
        verified=False,
    )
    return token, SESSION_DEFAULT_MINUTES * 60


_CREDENTIAL = PointRead(
    select(
        anonymous_credentials.c.digest,
        anonymous_credentials.c.app_pk,
        anonymous_credentials.c.rev_user_id,
        rev_users.c.state,
        rev_users.c.display_name,
        rev_users.c.created_at,
    )
    .select_from(
        anonymous_credentials.join(rev_users, rev_users.c.id == anonymous_credentials.c.rev_user_id)
    )
    .where(anonymous_credentials.c.digest == bindparam("digest"))
)


async def start_anonymous_session(
    runtime: Runtime, app_id: str, credential: str | None, client_address: str
) -> AnonymousSession:
    """A session token for an anonymous visitor of ``app_id``.

    With the credential the browser kept: the same visitor again. Without
    one: a new anonymous rev user (the widget asks only once the visitor
    interacts, so page views alone create nobody) and its credential; one
    client address may create only so many per hour
    (``OPENPLUG_NEW_VISITORS_PER_ADDRESS_PER_HOUR``), so a script cannot
    fill the CRM with strangers.
    """
    app = await find_app(runtime, app_id)
    if app is None:
        raise InvalidField("app_id", "no app has this app_id")
    if app.require_identification:
        raise Forbidden("this app requires identified visitors: no anonymous sessions")
    if credential is not None:
        digest = token_digest(runtime.secrets.token_pepper, credential)
        row = await runtime.db.points.one(_CREDENTIAL, digest=digest)
        if row is None or not hmac.compare_digest(row["digest"], digest) or row["app_pk"] != app.pk:
            raise Unauthenticated("unknown anonymous credential")
        if row["state"] != "active":
            # Merged into an identified user: that user's data is not for
            # whoever holds this browser now.
            raise Unauthenticated("this anonymous visitor has ended; start a new one")
        key = int(row["rev_user_id"])
        token, expires_in = mint_visitor_token(runtime, key, row["created_at"], app.app_id)
        return AnonymousSession(key, str(row["display_name"]), token, expires_in, None)

    await runtime.new_visitors.check(
        client_address, "too many new visitors from this address; try again later"
    )
    await runtime.new_visitors.record(client_address)
    credential = ANONYMOUS_CREDENTIAL_PREFIX + secrets.token_urlsafe(32)
    name = friendly_name()
    now = utcnow()
    async with runtime.db.write() as conn:
        key = (
            await conn.execute(
                insert(rev_users)
                .values(
                    display_name=name,
                    phone_numbers=[],
                    custom_fields={},
                    is_verified=False,
                    state="active",
                    app_pk=app.pk,
                    created_at=now,
                    modified_at=now,
                )
                .returning(rev_users.c.id)
            )
        ).scalar_one()
        await conn.execute(
            insert(anonymous_credentials).values(
                digest=token_digest(runtime.secrets.token_pepper, credential),
                app_pk=app.pk,
                rev_user_id=key,
                created_at=now,
            )
        )
        await run_crm_hooks_async(runtime.crm_hooks, conn, [CrmChange("created", "rev_user", key)])
    token, expires_in = mint_visitor_token(runtime, int(key), now, app.app_id)
    return AnonymousSession(int(key), name, token, expires_in, credential)


async def end_session(runtime: Runtime, visitor: Visitor) -> None:
    """Logout: this session token stops working at once, its open sockets
    (in every process) included."""
    async with runtime.db.write() as conn:
        await revoke_session(conn, visitor.claims)
    await announce_revoked(runtime.broker, "rev_user", visitor.rev_user_key, "logged out")


async def merge_anonymous_visitor(
    runtime: Runtime, visitor: Visitor, credential: str, *, actor: Actor
) -> MergeResult:
    """Move the conversations of the anonymous visitor whose credential this
    browser holds to the identified ``visitor``, and mark it merged (kept).

    Once per anonymous visitor: repeating it for the same identified user
    changes nothing; into anyone else it is refused. Never between two
    identified users: only an anonymous visitor has a credential.
    """
    if not visitor.verified:
        raise Forbidden("merging needs an identified visitor's session token")
    digest = token_digest(runtime.secrets.token_pepper, credential)
    async with runtime.db.write() as conn:
        found = (
            await conn.execute(
                select(anonymous_credentials.c.rev_user_id, anonymous_credentials.c.app_pk).where(
                    anonymous_credentials.c.digest == digest
                )
            )
        ).first()
        if found is None or found.app_pk != visitor.app.pk:
            raise InvalidField("anonymous_credential", "not an anonymous credential of this app")
        anonymous_key = int(found.rev_user_id)
        changes = await _merge_locked(
            conn, anonymous_key, visitor.rev_user_key, actor=actor, hooks=runtime.crm_hooks
        )
    publish_changes(runtime.change_listeners, changes)
    # The anonymous user is merged: its session tokens stop working, and
    # its sockets must not hear the conversations that moved.
    await announce_revoked(runtime.broker, "rev_user", anonymous_key, "merged into another user")
    return MergeResult(anonymous_key, len(changes))


async def hand_over_conversations(
    conn: AsyncConnection, from_key: int, into_key: int, now: datetime
) -> list[ConversationChange]:
    """Move rev user ``from_key``'s conversations to ``into_key`` and record
    the merge (``visitor_merges``: what a later erasure of either follows).
    Shared by the widget's merge and ``rev-users.merge``."""
    changes = await move_member_conversations(conn, from_key, into_key)
    await conn.execute(
        insert(visitor_merges).values(
            anonymous_rev_user_id=from_key,
            identified_rev_user_id=into_key,
            conversations_moved=len(changes),
            merged_at=now,
        )
    )
    return changes


async def _merge_locked(
    conn: AsyncConnection,
    anonymous_key: int,
    identified_key: int,
    *,
    actor: Actor,
    hooks: Sequence[CrmHook] = (),
) -> list[ConversationChange]:
    """The changes made; none when this merge was done before."""
    # Lock the anonymous user's row (PostgreSQL; SQLite's write transaction
    # is exclusive already), so concurrent merges of it run one at a time.
    anonymous = (
        await conn.execute(
            select(rev_users.c.state, rev_users.c.is_verified)
            .where(rev_users.c.id == anonymous_key)
            .with_for_update()
        )
    ).one()
    target = (
        await conn.execute(
            select(rev_users.c.is_verified, rev_users.c.state).where(
                rev_users.c.id == identified_key
            )
        )
    ).first()
    if target is None or target.state != "active":
        raise Unauthenticated("the session token's user no longer exists")
    if not target.is_verified:
        raise Forbidden("merging needs an identified visitor's session token")
    done = (
        await conn.execute(
            select(visitor_merges).where(visitor_merges.c.anonymous_rev_user_id == anonymous_key)
        )
    ).first()
    if done is not None:
        if done.identified_rev_user_id != identified_key:
            raise Conflict("this anonymous visitor was merged into another user already")
        return []
    if anonymous.is_verified or anonymous.state != "active":
        raise Conflict("this visitor cannot be merged")
    now = utcnow()
    changes = await hand_over_conversations(conn, anonymous_key, identified_key, now)
    await record(
        conn,
        actor,
        "visitor.merged",
        display_id(REV_USER, anonymous_key),
        {"into": display_id(REV_USER, identified_key), "conversations_moved": len(changes)},
    )
    await conn.execute(
        update(rev_users)
        .where(rev_users.c.id == anonymous_key)
        .values(state="merged", modified_at=now)
    )
    # To a DevRev receiver, as rev-users.merge tells it: the anonymous
    # visitor is gone, the identified user changed.
    await run_crm_hooks_async(
        hooks, conn,
        [CrmChange("deleted", "rev_user", anonymous_key),
         CrmChange("updated", "rev_user", identified_key)],
    )  # fmt: skip
    return changes
