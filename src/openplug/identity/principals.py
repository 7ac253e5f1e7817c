"""Who is calling: turn an ``Authorization`` header into a principal.

The header carries the bare token (as the PLuG docs show) or ``Bearer
<token>``. PATs and AATs are told apart by their prefix, session tokens by
being JWTs; every failure is a 401 that says why without echoing the token.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import and_, bindparam, exists, select

from openplug.crm.identify import seen_statement
from openplug.crm.rev_info import Identification
from openplug.crm.tables import rev_users
from openplug.db import Database
from openplug.db.point_reads import PointRead
from openplug.errors import Forbidden, Unauthenticated
from openplug.identity import access_tokens as tokens
from openplug.identity.session_tokens import (
    SessionClaims,
    UnknownSigningKey,
    creation_stamp,
    decode_session_token,
)
from openplug.identity.tables import access_tokens, apps, revoked_sessions
from openplug.runtime import Runtime

# "web" is an agent signed in to the inbox (a cookie); it may do what the
# agent's PAT may, so ``require_pat`` lets it through.
PrincipalKind = Literal["pat", "aat", "web", "session"]


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    access_token: tokens.AccessToken | None = None
    session: SessionClaims | None = None

    @property
    def dev_user_id(self) -> int:
        """The agent behind a PAT or sign-in (an AAT's creator, for the
        audit trail); a visitor's session reaching a call that needs one is
        refused (under ``python -O`` too), never read as someone else."""
        if self.access_token is None:
            raise Forbidden("this call is for agents: use a PAT")
        return self.access_token.dev_user_id


def bare_token(authorization: str | None) -> str:
    if not authorization or not authorization.strip():
        raise Unauthenticated("missing Authorization header")
    value = authorization.strip()
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
    if not value or " " in value:
        raise Unauthenticated("malformed Authorization header")
    return value


async def authenticate(runtime: Runtime, authorization: str | None) -> Principal:
    secret = bare_token(authorization)
    kind = tokens.token_kind_of(secret)
    if kind is not None:
        return Principal(kind, access_token=await authenticate_access_token(runtime, secret))
    if secret.count(".") == 2:
        return Principal("session", session=await verify_session_token(runtime, secret, None))
    raise Unauthenticated("unrecognised credential: expected a PAT, an AAT or a session token")


async def authenticate_access_token(runtime: Runtime, secret: str) -> tokens.AccessToken:
    return await _usable(
        runtime, await tokens.find_by_secret(runtime.db, runtime.secrets.token_pepper, secret)
    )


async def authenticate_aat_reading(
    runtime: Runtime, secret: str, ident: Identification, seen_params: Mapping[str, Any]
) -> tuple[Principal, Mapping[str, Any]]:
    """``authenticate`` for an AAT (``secret`` has its prefix), and identify's
    read phase for ``ident`` (``crm.identify.seen_statement``, with its
    ``seen_params``) in the same statement: a returning visitor's identify
    is then one round trip to PostgreSQL, not two.

    The token is read on every call, as ``authenticate`` does: a revoked
    AAT is refused by the next request on every process. The CRM rows are
    joined only onto an AAT that exists and is not revoked, so for anyone
    without one the statement finds the same (nothing) whoever the
    ``rev_info`` names, and it is refused before any of it is looked at."""
    digest = tokens.token_digest(runtime.secrets.token_pepper, secret)
    query = _AAT_AND_SEEN_BY_ID if ident.user_id is not None else _AAT_AND_SEEN_BY_REF
    row = await runtime.db.points.one(query, digest=digest, **seen_params)
    if row is None:  # the statement returns its one row whatever it finds
        raise RuntimeError("the AAT read returned no row")
    found = tokens.token_of_row({key: row[label] for label, key in _AAT_LABELS}, digest)
    return Principal("aat", access_token=await _usable(runtime, found)), row


async def _usable(runtime: Runtime, found: tokens.AccessToken | None) -> tokens.AccessToken:
    token = tokens.check_usable(found)
    if tokens.needs_last_used_refresh(token):
        async with runtime.db.write() as conn:
            await tokens.touch_last_used(conn, token)
    return token


async def verify_session_token(runtime: Runtime, token: str, app_id: str | None) -> SessionClaims:
    """The check every widget request goes through.

    Beyond the signature (see ``decode_session_token``) it refuses tokens
    whose user is gone or merged, tokens issued before the user's sessions
    were revoked, and tokens ended one by one (logout, see
    ``revoked_sessions``).
    """
    try:
        claims = decode_session_token(runtime.secrets, token, org_id=runtime.org_id, app_id=app_id)
    except UnknownSigningKey:
        if not runtime.reload_secrets():
            raise
        claims = decode_session_token(runtime.secrets, token, org_id=runtime.org_id, app_id=app_id)
    row = await runtime.db.points.one(_SESSION_STATE, key=claims.rev_user_key, jti=claims.jti)
    why = _session_refusal(claims, row, jti_revoked=row is not None and bool(row["jti_revoked"]))
    if why is not None:
        raise Unauthenticated(why)
    return claims


def _session_refusal(
    claims: SessionClaims, user: Mapping[Any, Any] | None, *, jti_revoked: bool
) -> str | None:
    """Why a session token with a valid signature is refused (None: it is
    not), from its user's ``state``, ``created_at`` and
    ``sessions_revoked_at`` (``user`` None: no such user)."""
    if (
        user is None
        or user["state"] != "active"
        or creation_stamp(user["created_at"]) != claims.user_created
    ):
        return "the session token's user no longer exists"
    revoked_at = user["sessions_revoked_at"]
    if (revoked_at is not None and claims.issued_at <= revoked_at) or jti_revoked:
        return "the session was revoked"
    return None


async def refused_sessions(
    db: Database, sessions: Collection[SessionClaims]
) -> dict[SessionClaims, str]:
    """``verify_session_token``'s database checks for many sessions at once
    (a few hundred per query), for the open sockets' periodic re-check:
    the refused ones and why. (Their expiry is in the signed claims, which
    never change.)"""
    wanted = list(sessions)
    refused: dict[SessionClaims, str] = {}
    async with db.read() as conn:
        for start in range(0, len(wanted), tokens.BATCH_SIZE):
            chunk = wanted[start : start + tokens.BATCH_SIZE]
            keys = {claims.rev_user_key for claims in chunk}
            jtis = {claims.jti for claims in chunk}
            user_rows = await conn.execute(
                select(
                    rev_users.c.id,
                    rev_users.c.state,
                    rev_users.c.created_at,
                    rev_users.c.sessions_revoked_at,
                ).where(rev_users.c.id.in_(keys))
            )
            users = {row["id"]: row for row in user_rows.mappings()}
            revoked_jtis = set(
                await conn.scalars(
                    select(revoked_sessions.c.jti).where(revoked_sessions.c.jti.in_(jtis))
                )
            )
            for claims in chunk:
                user = users.get(claims.rev_user_key)
                why = _session_refusal(claims, user, jti_revoked=claims.jti in revoked_jtis)
                if why is not None:
                    refused[claims] = why
    return refused


_SESSION_STATE = PointRead(
    select(
        rev_users.c.state,
        rev_users.c.created_at,
        rev_users.c.sessions_revoked_at,
        exists().where(revoked_sessions.c.jti == bindparam("jti")).label("jti_revoked"),
    ).where(rev_users.c.id == bindparam("key"))
)


# The AAT's columns under labels of their own, beside the CRM rows'.
_AAT_LABELS = tuple((f"aat__{c.key}", c.key) for c in tokens.TOKEN_COLUMNS)


def _aat_and_seen(by_id: bool) -> PointRead:
    return PointRead(
        seen_statement(
            by_id,
            onto=(
                access_tokens.outerjoin(apps, apps.c.id == access_tokens.c.app_pk),
                access_tokens.c.digest == bindparam("digest"),
            ),
            gate=and_(access_tokens.c.id.is_not(None), access_tokens.c.revoked_at.is_(None)),
            columns=[c.label(f"aat__{c.key}") for c in tokens.TOKEN_COLUMNS],
        )
    )


_AAT_AND_SEEN_BY_REF = _aat_and_seen(False)
_AAT_AND_SEEN_BY_ID = _aat_and_seen(True)


def require_pat(principal: Principal) -> Principal:
    if principal.kind not in ("pat", "web"):
        raise Forbidden(f"this call needs a PAT (an agent's token), not {_NAMES[principal.kind]}")
    return principal


def require_aat(principal: Principal) -> Principal:
    if principal.kind != "aat":
        raise Forbidden(
            f"this call needs an AAT (your website backend's token), not {_NAMES[principal.kind]}"
        )
    return principal


_NAMES: dict[PrincipalKind, str] = {
    "pat": "a PAT",
    "aat": "an AAT",
    "web": "an inbox sign-in",
    "session": "a session token",
}
