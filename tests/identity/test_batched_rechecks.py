"""The batched reads behind the open sockets' periodic credential re-check
(``conversations.sockets.SessionBatch`` / ``AccessTokenBatch``), on each
database, with more refs than one statement takes."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from openplug.conversations.sockets import AccessTokenBatch, SessionBatch
from openplug.db import Database
from openplug.db.base import utcnow
from openplug.identity import access_tokens as tokens
from openplug.identity.session_tokens import SessionClaims
from openplug.identity.tables import access_tokens
from openplug.realtime import CredentialEnded
from tests.conversations.helpers import identified_token, jwt_claims
from tests.live_server import LiveServer

MANY = tokens.BATCH_SIZE + 100


def claims_of(token: str) -> SessionClaims:
    c = jwt_claims(token)
    return SessionClaims(
        rev_user_key=c["uid"], user_created=c["ucr"], app_id=c["aud"], jti=c["jti"],
        verified=c["ver"],
        issued_at=utcnow() - timedelta(minutes=1), expires_at=utcnow() + timedelta(hours=1),
    )  # fmt: skip


async def test_sessions_are_rechecked_in_batches(any_server: LiveServer) -> None:
    live = claims_of(identified_token(any_server, "batched@example.com"))
    gone = [
        SessionClaims(10_000 + n, 0, any_server.app_id, utcnow(), utcnow(), f"jti-{n}", True)
        for n in range(MANY)
    ]
    db = Database(any_server.database_url)
    try:
        ended = await SessionBatch(db).ended([live, *gone])
    finally:
        await db.dispose()
    assert live not in ended
    assert set(ended) == set(gone)
    assert set(ended.values()) == {CredentialEnded("the session token's user no longer exists")}


async def test_access_tokens_are_rechecked_in_batches(any_server: LiveServer) -> None:
    assert any_server.runtime is not None
    db = Database(any_server.database_url)
    try:
        pat = await tokens.find_by_secret(
            db, any_server.runtime.secrets.token_pepper, any_server.pat
        )
        assert pat is not None
        unknown = list(range(100_000, 100_000 + MANY))
        batch = AccessTokenBatch(db)
        ended = await batch.ended([pat.pk, *unknown])
        assert set(ended) == set(unknown)
        assert set(ended.values()) == {CredentialEnded("unknown token")}

        async with db.write() as conn:
            await conn.execute(
                update(access_tokens)
                .where(access_tokens.c.id == pat.pk)
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert await batch.ended([pat.pk]) == {
            pat.pk: CredentialEnded("the PAT has expired", expired=True)
        }
    finally:
        await db.dispose()
