"""The quiet faults production meets, on a deployment of two servers
sharing one PostgreSQL database and one Redis (a redis-server this test
starts), each server reaching both through a fault-injecting proxy of its
own (``proxy.FaultProxy``). Each server is its own uvicorn with its own
event loop, connection pool and broker, run as ``openplug serve`` runs it
(``tests/live_server.py``, in a thread of the test process, so the test
can see its runtime and log). For each fault: what the client sees, that
nothing acknowledged is lost or doubled, that revocations still close
sockets, and that the system is healthy again without a restart.

The servers run with short deadlines (half a second for Redis, one or two
for PostgreSQL) so that each fault is noticed quickly; the tests wait for
what the client would see (a close frame, a response), never for a time.
Servers are re-checking credentials only every hour unless a test says
otherwise, so a socket closed by a revocation was closed by its
announcement.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from openplug.realtime import CloseCode
from openplug.realtime.redis_broker import RedisBroker
from tests.backends import PG_ADMIN_DSN, postgres_database
from tests.conftest import ServerFactory
from tests.conversations.helpers import (
    agent_reply,
    identified_token,
    start_conversation,
    widget,
    widget_ok,
)
from tests.faults.proxy import FaultProxy
from tests.faults.redis_server import RedisServer
from tests.live_server import LiveServer
from tests.realtime.test_sockets import (
    WAIT,
    Client,
    conv_topic,
    message_seqs,
    raw_socket,
    visitor_socket,
)

FAST = {
    "redis_timeout_seconds": 0.5,
    "redis_health_check_seconds": 0.5,
    "db_connect_timeout_seconds": 1.0,
    "db_statement_timeout_seconds": 2.0,
    "db_pool_timeout_seconds": 5.0,
    "credential_recheck_seconds": 3600.0,
}


@dataclass
class Node:
    """One server process and the proxies it reaches its dependencies through."""

    server: LiveServer
    redis: FaultProxy
    postgres: FaultProxy


class Cluster:
    """Two server processes of one deployment: the same PostgreSQL
    database, the same Redis, the same secrets."""

    def __init__(self, make_server: ServerFactory, tmp_path: Path, stack: ExitStack) -> None:
        self._make_server = make_server
        self._stack = stack
        self.redis = RedisServer(tmp_path).start()
        stack.callback(self.redis.stop)
        url = stack.enter_context(postgres_database())
        self._pg = make_url(url)
        self.database = str(self._pg.database)

    def _node(self, overrides: dict[str, Any], **more: Any) -> Node:
        redis_proxy = FaultProxy("127.0.0.1", self.redis.port).start()
        pg_proxy = FaultProxy(str(self._pg.host), int(self._pg.port or 5432)).start()
        self._stack.callback(pg_proxy.close)
        self._stack.callback(redis_proxy.close)
        proxied = self._pg.set(host="127.0.0.1", port=pg_proxy.port)
        server = self._make_server(
            database_url=proxied.render_as_string(hide_password=False),
            redis_url=f"redis://{redis_proxy.address}/0",
            **{**FAST, **overrides},
            **more,
        )
        # Stopped before its proxies close (an ExitStack unwinds backwards).
        self._stack.callback(server.stop)
        assert server.runtime is not None and isinstance(server.runtime.broker, RedisBroker)
        return Node(server, redis_proxy, pg_proxy)

    async def start(
        self, a: dict[str, Any] | None = None, b: dict[str, Any] | None = None
    ) -> tuple[Node, Node]:
        """Both processes, with these settings beside ``FAST``."""
        first = await asyncio.to_thread(self._node, a or {})
        second = await asyncio.to_thread(
            self._node, b or {}, data_dir=first.server.settings.data_dir
        )
        second.server.first = first.server.first
        return first, second


@pytest.fixture
def cluster(make_server: ServerFactory, tmp_path: Path) -> Iterator[Cluster]:
    with ExitStack() as stack:
        yield Cluster(make_server, tmp_path, stack)


async def closed(client: Client) -> tuple[int | None, str | None]:
    code = await client.closed_with()
    return code, client.ws.close_reason


def bodies(node: Node, token: str, conversation_id: str) -> list[str]:
    """The conversation's messages as the visitor reads them through ``node``."""
    got = widget_ok(node.server, token, "messages.list", conversation=conversation_id)
    return [m["body"] for m in got["messages"]]


def post(node: Node, token: str, conversation_id: str, body: str) -> int:
    r = widget(node.server, token, "messages.create", conversation=conversation_id, body=body)
    return r.status_code


# --- 1. a Redis connection dropped silently ---------------------------------------------


async def test_a_silently_dropped_redis_connection_is_noticed_and_realtime_resumes(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start()
    token = identified_token(a.server, "dropped@example.com")
    conversation = start_conversation(a.server, token, "hello")
    topic = conv_topic(conversation)
    async with visitor_socket(b.server, token) as visitor:
        assert message_seqs(await visitor.subscribe(topic, after_seq=0)) == [1]
        # A NAT forgets B's connections to Redis: no FIN, no RST, nothing.
        b.redis.drop()
        agent_reply(a.server, conversation["id"], "while B hears nothing")
        # B notices by itself and tells its socket to resume.
        code, _ = await closed(visitor)
        assert code == CloseCode.BROKER_UNAVAILABLE
        assert not any("while B hears nothing" in raw for raw in visitor.raw)
    # The widget resumes from the last seq it saw: the missed message once,
    # then live delivery again, and revocations reach B again.
    async with visitor_socket(b.server, token) as visitor:
        assert message_seqs(await visitor.subscribe(topic, after_seq=1)) == [2]
        agent_reply(a.server, conversation["id"], "live again")
        assert (await visitor.event("message.created", topic, seq=3))["message"]["body"] == (
            "live again"
        )
        widget_ok(a.server, token, "logout")
        assert (await closed(visitor))[0] == CloseCode.CREDENTIAL_REVOKED
    again = identified_token(a.server, "dropped@example.com")
    assert bodies(b, again, conversation["id"]) == [
        "hello",
        "while B hears nothing",
        "live again",
    ]


# --- 2. the first publish after a Redis restart ------------------------------------------


async def test_the_first_publish_after_a_redis_restart_is_not_lost(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start()
    leaving = identified_token(a.server, "restart@example.com")
    staying = identified_token(a.server, "restart@example.com")  # another tab
    conversation = start_conversation(a.server, staying, "hello")  # A has published
    topic = conv_topic(conversation)
    async with visitor_socket(b.server, leaving) as gone, visitor_socket(b.server, staying) as kept:
        await kept.subscribe(topic, after_seq=0)
        cluster.redis.restart()
        # Redis closed B's subscriber connection: its sockets are told.
        assert (await closed(gone))[0] == CloseCode.BROKER_UNAVAILABLE
        assert (await closed(kept))[0] == CloseCode.BROKER_UNAVAILABLE
    async with visitor_socket(b.server, leaving) as gone, visitor_socket(b.server, staying) as kept:
        assert message_seqs(await kept.subscribe(topic, after_seq=1)) == []
        # A's first publish since the restart, on the connection Redis closed.
        widget_ok(a.server, leaving, "logout")
        assert await closed(gone) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        agent_reply(a.server, conversation["id"], "after the restart")
        event = await kept.event("message.created", topic, seq=2)
        assert event["message"]["body"] == "after the restart"
        frames = await kept.barrier()
    assert message_seqs(frames) == []  # delivered once, though it may be published twice
    assert widget(b.server, leaving, "conversations.list").status_code == 401


# --- 7. a hung Redis ---------------------------------------------------------------------


async def test_a_hung_redis_never_holds_up_a_logout(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="openplug.realtime")
    # A's Redis calls wait 2 s each; B re-checks its sockets' credentials
    # (the backstop for announcements that could not be made) often.
    a, b = await cluster.start({"redis_timeout_seconds": 2.0}, {"credential_recheck_seconds": 0.3})
    leaving = identified_token(a.server, "hung@example.com")
    staying = identified_token(a.server, "hung@example.com")
    conversation = start_conversation(a.server, staying, "hello")
    topic = conv_topic(conversation)

    def not_told() -> list[str]:
        return [r.getMessage() for r in caplog.records if "sockets not told" in r.getMessage()]

    async with visitor_socket(b.server, leaving) as gone, visitor_socket(b.server, staying) as kept:
        await kept.subscribe(topic, after_seq=0)
        a.redis.partition()  # Redis stops answering A, and keeps its connections open
        assert widget(a.server, leaving, "logout").status_code == 200
        # Answered while the announcement was still trying (each of its
        # two attempts waits 2 s): the request did not wait for it.
        assert not_told() == []
        # B's periodic re-check closes the socket nobody could tell.
        assert await closed(gone) == (CloseCode.CREDENTIAL_REVOKED, "the session was revoked")
        await kept.barrier()
        async with asyncio.timeout(WAIT * 3):
            while not not_told():  # noqa: ASYNC110 (a log line from another thread)
                await asyncio.sleep(0.05)
        a.redis.heal()
        # Logged once, naming the principal and no credential.
        [line] = not_told()
        assert leaving not in line
        # Healthy again: A's announcements reach B's sockets once more.
        agent_reply(a.server, conversation["id"], "after the hang")
        assert (await kept.event("message.created", topic, seq=2))["message"]["body"] == (
            "after the hang"
        )


async def test_a_hung_redis_is_noticed_by_every_process_and_revocations_hold(
    cluster: Cluster,
) -> None:
    """Redis itself stops answering everyone (SIGSTOP), then comes back."""
    a, b = await cluster.start()
    leaving = identified_token(a.server, "stopped@example.com")
    staying = identified_token(a.server, "stopped@example.com")
    conversation = start_conversation(a.server, staying, "hello")
    topic = conv_topic(conversation)
    async with visitor_socket(b.server, leaving) as gone, visitor_socket(b.server, staying) as kept:
        await kept.subscribe(topic, after_seq=0)
        cluster.redis.pause()
        assert widget(a.server, leaving, "logout").status_code == 200
        assert post(a, staying, conversation["id"], "while Redis hangs") == 201
        # B's subscriber hears nothing past its heartbeat: both sockets are
        # told to resume (the revoked one was never told of the logout).
        assert (await closed(gone))[0] == CloseCode.BROKER_UNAVAILABLE
        assert (await closed(kept))[0] == CloseCode.BROKER_UNAVAILABLE
    # While Redis hangs a new socket cannot be promised live delivery.
    async with raw_socket(b.server, "/widget/socket") as early:
        await early.send(type="auth", token=staying, app_id=b.server.app_id)
        assert (await closed(early))[0] == CloseCode.BROKER_UNAVAILABLE
    cluster.redis.resume()
    # Back: the revoked session is refused as it resumes, the other gets
    # what it missed once and then live events again.
    async with raw_socket(b.server, "/widget/socket") as refused:
        await refused.send(type="auth", token=leaving, app_id=b.server.app_id)
        assert (await closed(refused))[0] == CloseCode.UNAUTHORIZED
    async with visitor_socket(b.server, staying) as kept:
        assert message_seqs(await kept.subscribe(topic, after_seq=1)) == [2]
        agent_reply(a.server, conversation["id"], "after the hang")
        assert (await kept.event("message.created", topic, seq=3))["message"]["body"] == (
            "after the hang"
        )


# --- 4 and 6. PostgreSQL restarted, and PostgreSQL partitioned ---------------------------


async def _terminate_backends(database: str) -> int:
    """What a PostgreSQL restart does to its clients' connections."""
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        rows = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await conn.close()
    return len(rows)


async def test_the_first_request_after_a_postgresql_restart_succeeds(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start()
    token = identified_token(a.server, "pg-restart@example.com")
    conversation = start_conversation(a.server, token, "hello")
    assert bodies(b, token, conversation["id"]) == ["hello"]  # B's pool holds connections too
    assert await _terminate_backends(cluster.database) >= 2
    # The first request on each process after the restart: pooled
    # connections are pinged and replaced, none answers 500.
    assert bodies(b, token, conversation["id"]) == ["hello"]
    assert post(a, token, conversation["id"], "after the restart") == 201
    assert bodies(b, token, conversation["id"]) == ["hello", "after the restart"]


async def test_a_postgresql_partition_fails_requests_quickly_and_heals(
    cluster: Cluster,
) -> None:
    a, b = await cluster.start()
    token = identified_token(a.server, "pg-partition@example.com")
    conversation = start_conversation(a.server, token, "hello")
    topic = conv_topic(conversation)
    async with visitor_socket(b.server, token) as visitor:
        await visitor.subscribe(topic, after_seq=1)
        a.postgres.partition()
        # A cannot reach PostgreSQL: its requests end with a 500 (bounded by
        # the connect and statement timeouts; the client's own timeout is
        # only a safety net), never half a write.
        r = widget(a.server, token, "messages.create", conversation=conversation["id"],
                   body="during the partition")  # fmt: skip
        assert r.status_code == 500, r.text
        assert set(r.json()) == {"type", "message", "reference_id"}
        # B, which reaches PostgreSQL, is unaffected.
        assert post(b, token, conversation["id"], "through B") == 201
        assert (await visitor.event("message.created", topic, seq=2))["message"]["body"] == (
            "through B"
        )
        a.postgres.heal()
        # Healed: A's dead pooled connections are replaced, not reused.
        assert post(a, token, conversation["id"], "after the partition") == 201
        assert (await visitor.event("message.created", topic, seq=3))["message"]["body"] == (
            "after the partition"
        )
    stored = bodies(a, token, conversation["id"])
    assert stored == ["hello", "through B", "after the partition"]
