"""Open sockets close once their credential stops being valid: logout,
revoked sessions, a deleted or merged user, a revoked PAT, expiry; on
every server process; and, through each server's periodic re-check, when
nobody announced it (the CLI without Redis, a change made in the
database). Real servers on loopback, real WebSockets, real CLI processes."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import Executable, insert, update

from openplug.audit import SYSTEM
from openplug.crm.tables import rev_users
from openplug.db import Database
from openplug.db.base import utcnow
from openplug.identity import access_tokens as tokens
from openplug.identity.agent_sessions import COOKIE_NAME
from openplug.identity.session_tokens import ALGORITHM
from openplug.identity.tables import access_tokens, revoked_sessions
from openplug.realtime import CloseCode
from openplug.realtime.redis_broker import RedisBroker
from tests.backends import redis_url
from tests.conftest import ServerFactory
from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    anonymous_session,
    identified_token,
    jwt_claims,
    start_conversation,
    user_id_of,
    widget,
    widget_ok,
)
from tests.inbox.test_sign_in import INBOX, cookie_socket, signed_in
from tests.live_server import LiveServer
from tests.realtime.test_sockets import (
    WAIT,
    Client,
    agent_socket,
    conv_topic,
    key_of,
    raw_socket,
    visitor_socket,
)
from tests.test_cli import run

# Servers started with this re-check interval notice an unannounced end
# within a fraction of a second; the tests still wait for the close frame
# itself (up to WAIT), never for a time.
RECHECK = 0.2


@pytest.fixture(params=["sqlite", "postgresql"])
def rechecking_server(request: pytest.FixtureRequest, make_server: ServerFactory) -> LiveServer:
    """A server that re-checks its open sockets' credentials every RECHECK."""
    return make_server(backend=request.param, credential_recheck_seconds=RECHECK)


async def behind_its_back(server: LiveServer, *statements: Executable) -> None:
    """Change the server's database directly: nobody announces anything."""
    db = Database(server.database_url)
    try:
        async with db.write() as conn:
            for statement in statements:
                await conn.execute(statement)
    finally:
        await db.dispose()


async def closed(client: Client) -> tuple[int | None, str | None]:
    """Wait for the server's close (reading, never sleeping): code and reason."""
    code = await client.closed_with()
    return code, client.ws.close_reason


def heard(client: Client, text: str) -> bool:
    return any(text in raw for raw in client.raw)


async def still_open(client: Client) -> None:
    """A ping answered proves the socket is open and was not closed meanwhile."""
    await client.barrier()


def short_lived_session(server: LiveServer, token: str, seconds: int) -> tuple[str, float]:
    """``token`` re-issued to expire in ``seconds`` (the API's shortest is a
    minute), and its expiry."""
    assert server.runtime is not None
    key = server.runtime.secrets.active_key
    now = time.time()
    exp = int(now) + seconds
    claims = {**jwt_claims(token), "iat": now, "exp": exp, "jti": secrets.token_hex(12)}
    return jwt.encode(claims, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid}), exp


async def second_pat(
    server: LiveServer, expires_in: timedelta | None = None
) -> tuple[str, tokens.AccessToken]:
    """Another PAT of the bootstrap admin, so that revoking it leaves the
    test its own ``server.pat``."""
    assert server.runtime is not None
    pepper = server.runtime.secrets.token_pepper
    db = Database(server.database_url)
    try:
        admin = await tokens.find_by_secret(db, pepper, server.pat)
        assert admin is not None
        async with db.write() as conn:
            secret, token = await tokens.issue_access_token(
                conn, pepper, kind="pat", dev_user_id=admin.dev_user_id, app_pk=None,
                expires_in_days=1, token_hint="second", actor=SYSTEM,
            )  # fmt: skip
            if expires_in is not None:
                await conn.execute(
                    update(access_tokens)
                    .where(access_tokens.c.id == token.pk)
                    .values(expires_at=utcnow() + expires_in)
                )
    finally:
        await db.dispose()
    return secret, token


# --- 1. logout ----------------------------------------------------------------------


async def test_logout_closes_that_tokens_sockets_and_only_those(any_server: LiveServer) -> None:
    server = any_server
    leaving = identified_token(server, "two-tabs@example.com")
    staying = identified_token(server, "two-tabs@example.com")  # same user, another tab
    conversation = start_conversation(server, leaving, "hello")
    topic = conv_topic(conversation)
    user_topic = f"user:{key_of(user_id_of(leaving))}"
    async with (
        visitor_socket(server, leaving) as gone,
        visitor_socket(server, leaving) as gone_too,
        visitor_socket(server, staying) as kept,
    ):
        for client in (gone, gone_too, kept):
            await client.subscribe(topic)
            await client.subscribe(user_topic)
        widget_ok(server, leaving, "logout")
        agent_reply(server, conversation["id"], "after the logout")

        assert await closed(gone) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        assert await closed(gone_too) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        event = await kept.event("message.created", topic, seq=2)
        assert event["message"]["body"] == "after the logout"
        await still_open(kept)
    assert not heard(gone, "after the logout") and not heard(gone_too, "after the logout")


# --- 2. revoke-sessions and delete --------------------------------------------------


async def test_revoking_a_users_sessions_closes_all_their_sockets(any_server: LiveServer) -> None:
    server = any_server
    first = identified_token(server, "revoked@example.com")
    second = identified_token(server, "revoked@example.com")
    bystander = identified_token(server, "bystander@example.com")
    conversation = start_conversation(server, first, "hello")
    topic = conv_topic(conversation)
    async with (
        visitor_socket(server, first) as a,
        visitor_socket(server, second) as b,
        visitor_socket(server, bystander) as other,
    ):
        await a.subscribe(topic)
        await b.subscribe(topic)
        await other.subscribe(f"user:{key_of(user_id_of(bystander))}")
        agent_ok(server, "/rev-users.revoke-sessions", {"id": user_id_of(first)})
        agent_reply(server, conversation["id"], "after the revocation")
        assert await closed(a) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        assert await closed(b) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        await still_open(other)
    assert not heard(a, "after the revocation") and not heard(b, "after the revocation")

    # A token issued afterwards works, socket included.
    fresh = identified_token(server, "revoked@example.com")
    async with visitor_socket(server, fresh) as c:
        await c.subscribe(topic)
        agent_reply(server, conversation["id"], "for the new session")
        assert (await c.event("message.created", topic, seq=3))["message"]["body"] == (
            "for the new session"
        )


async def test_deleting_the_user_closes_their_sockets(any_server: LiveServer) -> None:
    server = any_server
    token = identified_token(server, "deleted@example.com")
    async with visitor_socket(server, token) as visitor:
        await visitor.subscribe(f"user:{key_of(user_id_of(token))}")
        agent_ok(server, "/rev-users.delete", {"id": user_id_of(token)})
        code, reason = await closed(visitor)
    assert code == CloseCode.CREDENTIAL_REVOKED
    assert reason == "the session token's user no longer exists"


# --- 3. expiry ----------------------------------------------------------------------


async def test_a_session_token_expiring_closes_its_socket(server: LiveServer) -> None:
    identified = identified_token(server, "expiring@example.com")
    token, exp = short_lived_session(server, identified, 3)
    user_id = user_id_of(identified)
    async with visitor_socket(server, token) as visitor:
        await visitor.subscribe(f"user:{key_of(user_id)}")
        code, _ = await closed(visitor)
    assert code == CloseCode.CREDENTIAL_EXPIRED
    assert time.time() >= exp


# --- 4. merge -----------------------------------------------------------------------


async def test_merging_the_anonymous_visitor_closes_its_sockets(any_server: LiveServer) -> None:
    server = any_server
    anonymous = anonymous_session(server)
    conversation = start_conversation(server, anonymous["session_token"], "before login")
    topic = conv_topic(conversation)
    identified = identified_token(server, "logged-in@example.com")
    async with (
        visitor_socket(server, anonymous["session_token"]) as before,
        visitor_socket(server, identified) as after,
    ):
        await before.subscribe(topic)
        merged = widget_ok(
            server, identified, "merge", anonymous_credential=anonymous["anonymous_credential"]
        )
        assert merged["conversations_moved"] == 1
        agent_reply(server, conversation["id"], "for the identified user")
        code, reason = await closed(before)
        # The conversation is the identified user's now.
        await after.subscribe(topic, after_seq=1)
        await still_open(after)
    assert code == CloseCode.CREDENTIAL_REVOKED
    assert reason == "the session token's user no longer exists"
    assert not heard(before, "for the identified user")
    assert heard(after, "for the identified user")


# --- 5. agents' PATs ----------------------------------------------------------------


async def test_revoking_a_pat_closes_the_sockets_that_use_it(any_server: LiveServer) -> None:
    server = any_server
    secret, token = await second_pat(server)
    visitor_token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, visitor_token, "hello")
    topic = conv_topic(conversation)
    async with agent_socket(server, secret) as revoked, agent_socket(server) as kept:
        for client in (revoked, kept):
            await client.subscribe(topic)
            await client.subscribe("inbox")
        agent_ok(server, "/auth-tokens.delete", {"token_id": token.token_id})
        agent_reply(server, conversation["id"], "after the revocation")
        assert await closed(revoked) == (CloseCode.CREDENTIAL_REVOKED, "the PAT was revoked")
        event = await kept.event("message.created", topic, seq=2)
        assert event["message"]["body"] == "after the revocation"
    assert not heard(revoked, "after the revocation")


async def test_a_pat_expiring_closes_its_socket(server: LiveServer) -> None:
    secret, _ = await second_pat(server, expires_in=timedelta(seconds=2))
    async with agent_socket(server, secret) as agent:
        await agent.subscribe("inbox")
        started = time.monotonic()
        code, _ = await closed(agent)
    assert code == CloseCode.CREDENTIAL_EXPIRED
    assert time.monotonic() - started < WAIT


# --- several processes --------------------------------------------------------------


async def test_logout_through_one_server_closes_the_socket_held_by_another(
    make_server: ServerFactory,
) -> None:
    """Two servers of one deployment, sharing PostgreSQL and Redis."""
    url = await redis_url()
    a = await asyncio.to_thread(make_server, backend="postgresql", redis_url=url)
    b = await asyncio.to_thread(
        make_server,
        redis_url=url,
        data_dir=a.settings.data_dir,  # the same secrets (signing keys, pepper)
        database_url=a.database_url,
    )
    b.first = a.first
    assert a.runtime is not None and isinstance(a.runtime.broker, RedisBroker)
    assert b.runtime is not None and isinstance(b.runtime.broker, RedisBroker)

    leaving = identified_token(a, "two-servers@example.com")
    staying = identified_token(a, "two-servers@example.com")
    conversation = start_conversation(a, leaving, "hello")
    topic = conv_topic(conversation)
    async with visitor_socket(b, leaving) as gone, visitor_socket(b, staying) as kept:
        await gone.subscribe(topic)
        await kept.subscribe(topic)
        widget_ok(a, leaving, "logout")
        agent_reply(a, conversation["id"], "after the logout")
        assert await closed(gone) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        assert (await kept.event("message.created", topic, seq=2))["message"]["body"] == (
            "after the logout"
        )
    assert not heard(gone, "after the logout")
    # And the logged-out token is refused by either server.
    assert widget(b, leaving, "conversations.list").status_code == 401
    async with raw_socket(b, "/widget/socket") as again:
        await again.send(type="auth", token=leaving, app_id=b.app_id)
        assert (await closed(again))[0] == CloseCode.UNAUTHORIZED


# --- ends nobody announced: the periodic re-check -------------------------------------


async def test_sessions_ended_in_the_database_close_their_sockets(
    rechecking_server: LiveServer,
) -> None:
    server = rechecking_server
    revoked = identified_token(server, "db-revoked@example.com")
    logged_out = identified_token(server, "db-logged-out@example.com")
    kept = identified_token(server, "db-kept@example.com")
    conversation = start_conversation(server, kept, "hello")
    topic = conv_topic(conversation)
    async with (
        visitor_socket(server, revoked) as a,
        visitor_socket(server, logged_out) as b,
        visitor_socket(server, kept) as c,
    ):
        for client, token in ((a, revoked), (b, logged_out), (c, kept)):
            await client.subscribe(f"user:{key_of(user_id_of(token))}")
        await c.subscribe(topic)
        claims = jwt_claims(logged_out)
        await behind_its_back(
            server,
            update(rev_users)
            .where(rev_users.c.id == key_of(user_id_of(revoked)))
            .values(sessions_revoked_at=utcnow()),
            insert(revoked_sessions).values(
                jti=claims["jti"], expires_at=utcnow() + timedelta(hours=1)
            ),
        )
        assert await closed(a) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        assert await closed(b) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        agent_reply(server, conversation["id"], "after the re-check")
        event = await c.event("message.created", topic, seq=2)
        assert event["message"]["body"] == "after the re-check"
        await still_open(c)
    assert widget(server, revoked, "conversations.list").status_code == 401
    assert widget(server, kept, "conversations.list").status_code == 200


async def test_pats_ended_in_the_database_close_their_sockets(
    rechecking_server: LiveServer,
) -> None:
    server = rechecking_server
    revoked_secret, revoked = await second_pat(server)
    expired_secret, expired = await second_pat(server)
    async with (
        agent_socket(server, revoked_secret) as a,
        agent_socket(server, expired_secret) as b,
        agent_socket(server) as kept,
    ):
        for client in (a, b, kept):
            await client.subscribe("inbox")
        await behind_its_back(
            server,
            update(access_tokens)
            .where(access_tokens.c.id == revoked.pk)
            .values(revoked_at=utcnow()),
            update(access_tokens)
            .where(access_tokens.c.id == expired.pk)
            .values(expires_at=utcnow() - timedelta(seconds=1)),
        )
        assert await closed(a) == (CloseCode.CREDENTIAL_REVOKED, "the PAT was revoked")
        assert await closed(b) == (CloseCode.CREDENTIAL_EXPIRED, "the PAT has expired")
        await still_open(kept)


# --- the command line -----------------------------------------------------------------


async def cli(server: LiveServer, *args: str, env: dict[str, str] | None = None) -> Any:
    """``openplug *args --json`` as an operator runs it, on the server's data."""
    done = await asyncio.to_thread(run, server.settings.data_dir, *args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


async def test_cli_revoking_a_pat_closes_its_socket_without_redis(
    make_server: ServerFactory,
) -> None:
    """The default deployment: the CLI cannot reach the server's in-process
    broker, so the server's own re-check notices."""
    server = make_server(credential_recheck_seconds=RECHECK)
    secret, token = await second_pat(server)
    async with agent_socket(server, secret) as revoked, agent_socket(server) as kept:
        for client in (revoked, kept):
            await client.subscribe("inbox")
        assert (await cli(server, "tokens", "revoke", token.token_id))["status"] == "revoked"
        assert await closed(revoked) == (CloseCode.CREDENTIAL_REVOKED, "the PAT was revoked")
        await still_open(kept)


async def test_cli_set_password_ends_the_agents_sign_ins_and_their_sockets(
    make_server: ServerFactory,
) -> None:
    server = make_server(credential_recheck_seconds=RECHECK)
    assert server.first is not None
    with signed_in(server) as browser:
        cookie = browser.cookies[COOKIE_NAME]
        assert browser.get("/inbox/me", headers=INBOX).status_code == 200
        async with (
            cookie_socket(server, cookie, server.base_url) as inbox,
            agent_socket(server) as with_pat,
        ):
            await inbox.until(type="ready")
            for client in (inbox, with_pat):
                await client.subscribe("inbox")
            changed = await cli(server, "agents", "set-password", server.first.admin_email,
                                "--generate")  # fmt: skip
            assert await closed(inbox) == (
                CloseCode.CREDENTIAL_REVOKED,
                "the inbox sign-in was revoked",
            )
            await still_open(with_pat)  # a PAT is not a sign-in: it stays
        refused = browser.get("/inbox/me", headers=INBOX)
        assert refused.status_code == 401 and "revoked" in refused.json()["message"]
    # The new password signs in.
    with server.client() as c:
        r = c.post(
            "/inbox/sign-in",
            json={"email": server.first.admin_email, "password": changed["password"]},
        )
        assert r.status_code == 200, r.text


async def test_cli_revocations_reach_every_server_through_redis_at_once(
    make_server: ServerFactory,
) -> None:
    """With Redis the CLI announces what it ended, so the sockets close on
    every process at once: the servers' re-check is set to an hour here, so
    only the announcement can close them."""
    url = await redis_url()
    a = await asyncio.to_thread(make_server, redis_url=url, credential_recheck_seconds=3600)
    b = await asyncio.to_thread(
        make_server, redis_url=url, credential_recheck_seconds=3600,
        data_dir=a.settings.data_dir, database_url=a.database_url,
    )  # fmt: skip
    b.first = a.first
    assert a.first is not None
    secret, token = await second_pat(a)
    visitor = anonymous_session(a)["session_token"]
    conversation = start_conversation(a, visitor, "hello")
    topic = conv_topic(conversation)
    with signed_in(a) as browser:
        cookie = browser.cookies[COOKIE_NAME]
        async with (
            agent_socket(a, secret) as on_a,
            agent_socket(b, secret) as on_b,
            cookie_socket(b, cookie, b.base_url) as inbox_on_b,
            agent_socket(b) as kept,
        ):
            await inbox_on_b.until(type="ready")
            for client in (on_a, on_b, inbox_on_b, kept):
                await client.subscribe(topic)
            redis = {"OPENPLUG_REDIS_URL": url}
            await cli(a, "tokens", "revoke", token.token_id, env=redis)
            agent_reply(a, conversation["id"], "after the revocation")
            for client in (on_a, on_b):
                assert await closed(client) == (
                    CloseCode.CREDENTIAL_REVOKED,
                    "the PAT was revoked",
                )
                assert not heard(client, "after the revocation")
            await cli(a, "agents", "set-password", a.first.admin_email, "--generate", env=redis)
            agent_reply(a, conversation["id"], "after the new password")
            assert await closed(inbox_on_b) == (
                CloseCode.CREDENTIAL_REVOKED,
                "the inbox sign-in was revoked",
            )
            assert not heard(inbox_on_b, "after the new password")
            event = await kept.event("message.created", topic, seq=3)
            assert event["message"]["body"] == "after the new password"
