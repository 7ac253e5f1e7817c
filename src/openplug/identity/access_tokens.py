"""PATs and AATs: long-lived bearer secrets that the server only ever stores
as a keyed digest.

The secret is 256 random bits behind a recognisable prefix (``opl_aat_`` /
``opl_pat_``) so secret scanners can spot a leak. A keyed HMAC-SHA256, not a
slow password hash: the input is already high-entropy, and a slow hash on
the hottest endpoint would hand attackers a denial-of-service lever.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.db import Database
from openplug.db.base import rfc3339, utcnow
from openplug.db.point_reads import PointRead
from openplug.errors import InvalidField, NotFound, Unauthenticated
from openplug.identity.tables import access_tokens, apps

# "web": an agent's inbox sign-in, held in an HttpOnly cookie (see
# ``agent_sessions``); it acts as the agent's PAT for a working day.
TokenKind = Literal["pat", "aat", "web"]
TOKEN_PREFIXES: dict[TokenKind, str] = {"pat": "opl_pat_", "aat": "opl_aat_", "web": "opl_web_"}
AAT_DEFAULT_DAYS = 365
AAT_MAX_DAYS = 1825
PAT_DEFAULT_DAYS = 90
# last_used_at is advisory; refreshing it at most this often keeps the hot
# path free of writes.
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class AccessToken:
    pk: int
    token_id: str
    kind: TokenKind
    token_hint: str
    dev_user_id: int
    app_pk: int | None
    app_id: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at <= utcnow():
            return "expired"
        return "active"


def token_kind_of(secret: str) -> TokenKind | None:
    for kind, prefix in TOKEN_PREFIXES.items():
        if secret.startswith(prefix):
            return kind
    return None


def token_digest(pepper: bytes, secret: str) -> str:
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def _default_hint(secret: str) -> str:
    prefix = next(p for p in TOKEN_PREFIXES.values() if secret.startswith(p))
    return f"{prefix}…{secret[-4:]}"


# What ``token_of_row`` reads: the token and its app's public id.
TOKEN_COLUMNS = (*access_tokens.c, apps.c.app_id)


def _select() -> Any:
    return select(*TOKEN_COLUMNS).select_from(
        access_tokens.outerjoin(apps, apps.c.id == access_tokens.c.app_pk)
    )


def _from_row(row: Row[Any]) -> AccessToken:
    return _from_mapping(row._mapping)


def _from_mapping(m: Mapping[Any, Any]) -> AccessToken:
    return AccessToken(
        pk=m["id"],
        token_id=m["token_id"],
        kind=m["kind"],
        token_hint=m["token_hint"],
        dev_user_id=m["dev_user_id"],
        app_pk=m["app_pk"],
        app_id=m["app_id"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        revoked_at=m["revoked_at"],
        last_used_at=m["last_used_at"],
    )


async def issue_access_token(
    conn: AsyncConnection,
    pepper: bytes,
    *,
    kind: TokenKind,
    dev_user_id: int,
    app_pk: int | None,
    expires_in_days: int = 0,
    expires_in: timedelta | None = None,
    token_hint: str | None = None,
    actor: Actor,
) -> tuple[str, AccessToken]:
    """Create a token; the secret is returned here and never again.

    An AAT belongs to exactly one app, and only AATs do: identify resolves
    visitors within the AAT's app, so one with none could serve no one."""
    if (kind == "aat") != (app_pk is not None):
        raise InvalidField("app", "an AAT is for one app" if kind == "aat"
                           else f"a {kind.upper()} is not bound to an app")  # fmt: skip
    secret = TOKEN_PREFIXES[kind] + secrets.token_urlsafe(32)
    now = utcnow()
    lifetime = expires_in if expires_in is not None else timedelta(days=expires_in_days)
    values = {
        "token_id": secrets.token_hex(8),
        "kind": kind,
        "digest": token_digest(pepper, secret),
        "token_hint": token_hint or _default_hint(secret),
        "dev_user_id": dev_user_id,
        "app_pk": app_pk,
        "created_at": now,
        "expires_at": now + lifetime,
    }
    await conn.execute(access_tokens.insert().values(**values))
    row = (
        await conn.execute(_select().where(access_tokens.c.token_id == values["token_id"]))
    ).one()
    token = _from_row(row)
    await _record(conn, actor, token, "signed_in" if kind == "web" else "created")
    return secret, token


# What the audit trail calls each kind's events: an inbox sign-in is the
# agent's, not a token anyone manages.
_AUDIT_NOUNS: dict[TokenKind, str] = {"aat": "aat", "pat": "pat", "web": "agent"}


async def _record(conn: AsyncConnection, actor: Actor, token: AccessToken, verb: str) -> None:
    await record(
        conn,
        actor,
        f"{_AUDIT_NOUNS[token.kind]}.{verb}",
        f"TOKEN-{token.pk}",
        {
            "token_id": token.token_id,
            "token_hint": token.token_hint,
            **({"app_id": token.app_id} if token.app_id is not None else {}),
            "dev_user": f"DEVU-{token.dev_user_id}",
            "expires_at": rfc3339(token.expires_at),
        },
    )


_BY_DIGEST = PointRead(_select().where(access_tokens.c.digest == bindparam("digest")))


async def find_by_secret(db: Database, pepper: bytes, secret: str) -> AccessToken | None:
    digest = token_digest(pepper, secret)
    return token_of_row(await db.points.one(_BY_DIGEST, digest=digest), digest)


def token_of_row(row: Mapping[str, Any] | None, digest: str) -> AccessToken | None:
    """The token of a row read by ``digest`` (``TOKEN_COLUMNS``, keyed by column
    key; None or a NULL ``id``: no token has this digest)."""
    # The lookup is by digest already; comparing again in constant time
    # keeps timing independent of how much of the digest matched.
    if row is None or row["id"] is None or not hmac.compare_digest(row["digest"], digest):
        return None
    return _from_mapping(row)


def refusal(token: AccessToken | None) -> str | None:
    """Why ``token`` may not be used (None: it may), never echoing the secret."""
    if token is None:
        return "unknown token"
    if token.revoked_at is not None:
        return f"the {_KIND_NAMES[token.kind]} was revoked"
    if token.expires_at <= utcnow():
        return f"the {_KIND_NAMES[token.kind]} has expired"
    return None


def check_usable(token: AccessToken | None) -> AccessToken:
    """401 with a message that says why (see ``refusal``)."""
    why = refusal(token)
    if why is not None or token is None:
        raise Unauthenticated(why or "unknown token")
    return token


# Keys per statement in batched reads: far below every backend's limit on
# bound parameters (SQLite's is 32,766, asyncpg's 32,767).
BATCH_SIZE = 500


async def tokens_by_pk(db: Database, pks: Collection[int]) -> dict[int, AccessToken]:
    """The tokens with these row keys that still exist (a token goes with
    its agent: ``dev_user_id`` cascades), a few hundred per query."""
    wanted = list(pks)
    found: dict[int, AccessToken] = {}
    async with db.read() as conn:
        for start in range(0, len(wanted), BATCH_SIZE):
            chunk = wanted[start : start + BATCH_SIZE]
            rows = await conn.execute(_select().where(access_tokens.c.id.in_(chunk)))
            for row in rows:
                token = _from_row(row)
                found[token.pk] = token
    return found


_KIND_NAMES: dict[TokenKind, str] = {"pat": "PAT", "aat": "AAT", "web": "inbox sign-in"}


def needs_last_used_refresh(token: AccessToken) -> bool:
    return token.last_used_at is None or utcnow() - token.last_used_at >= LAST_USED_GRANULARITY


async def touch_last_used(conn: AsyncConnection, token: AccessToken) -> None:
    await conn.execute(
        update(access_tokens).where(access_tokens.c.id == token.pk).values(last_used_at=utcnow())
    )


async def touch_in_use(db: Database, tokens: Collection[AccessToken]) -> None:
    """Mark tokens an open socket holds as in use (at most once a
    ``LAST_USED_GRANULARITY``), so an inbox left open reads as in use: an
    agent who has the inbox open is told there, not by mail."""
    stale = [t.pk for t in tokens if needs_last_used_refresh(t)]
    if not stale:
        return
    async with db.write() as conn:
        await conn.execute(
            update(access_tokens).where(access_tokens.c.id.in_(stale)).values(last_used_at=utcnow())
        )


async def inbox_in_use(conn: AsyncConnection, dev_user_key: int, within: timedelta) -> bool:
    """Whether the agent has a live inbox sign-in used in the last ``within``."""
    c = access_tokens.c
    now = utcnow()
    query = select(c.id).where(
        c.dev_user_id == dev_user_key,
        c.kind == "web",
        c.revoked_at.is_(None),
        c.expires_at > now,
        c.last_used_at >= now - within,
    )
    return (await conn.execute(query.limit(1))).first() is not None


TokenRef = str | int
"""A token as clients name it: its key (what the DON carries) or, as an
int, its row (what ``TOKEN-7`` carries)."""


async def get_token(conn: AsyncConnection, token_id: TokenRef) -> AccessToken:
    by = access_tokens.c.id if isinstance(token_id, int) else access_tokens.c.token_id
    row = (await conn.execute(_select().where(by == token_id))).first()
    if row is None:
        shown = f"TOKEN-{token_id}" if isinstance(token_id, int) else token_id
        raise NotFound(f"token {shown} not found")
    return _from_row(row)


async def list_tokens(
    conn: AsyncConnection,
    *,
    kind: TokenKind,
    dev_user_id: int | None = None,
    app_pk: int | None = None,
) -> list[AccessToken]:
    query = _select().where(access_tokens.c.kind == kind)
    if dev_user_id is not None:
        query = query.where(access_tokens.c.dev_user_id == dev_user_id)
    if app_pk is not None:
        query = query.where(access_tokens.c.app_pk == app_pk)
    rows = (await conn.execute(query.order_by(access_tokens.c.id.desc()))).all()
    return [_from_row(r) for r in rows]


async def revoke_sign_ins(conn: AsyncConnection, dev_user_id: int) -> None:
    """Revoke every inbox sign-in (``web`` token) of this agent."""
    await conn.execute(
        update(access_tokens)
        .where(
            access_tokens.c.dev_user_id == dev_user_id,
            access_tokens.c.kind == "web",
            access_tokens.c.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )


async def revoke_token(conn: AsyncConnection, token_id: TokenRef, *, actor: Actor) -> AccessToken:
    token = await get_token(conn, token_id)
    if token.revoked_at is None:
        await conn.execute(
            update(access_tokens).where(access_tokens.c.id == token.pk).values(revoked_at=utcnow())
        )
        await _record(conn, actor, token, "signed_out" if token.kind == "web" else "revoked")
    return await get_token(conn, token_id)


async def set_token_hint(
    conn: AsyncConnection, token_id: TokenRef, hint: str, *, actor: Actor
) -> AccessToken:
    token = await get_token(conn, token_id)
    await conn.execute(
        update(access_tokens).where(access_tokens.c.id == token.pk).values(token_hint=hint)
    )
    renamed = await get_token(conn, token_id)
    await _record(conn, actor, renamed, "renamed")
    return renamed
