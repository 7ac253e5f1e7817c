"""Ending one session token before its expiry (the widget's logout).

A session token is a JWT, valid by itself until ``exp``; to end it sooner
its ``jti`` is recorded here and ``verify_session_token`` refuses it. Rows
outlive the token by nothing: once it would have expired anyway the row is
useless, and each revocation deletes those.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.db.base import utcnow
from openplug.identity.session_tokens import SessionClaims
from openplug.identity.tables import revoked_sessions


async def revoke_session(conn: AsyncConnection, claims: SessionClaims) -> None:
    """Idempotent: revoking a revoked token again changes nothing."""
    await conn.execute(delete(revoked_sessions).where(revoked_sessions.c.expires_at < utcnow()))
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    await conn.execute(
        dialect_insert(revoked_sessions)
        .values(jti=claims.jti, expires_at=claims.expires_at)
        .on_conflict_do_nothing(index_elements=["jti"])
    )
