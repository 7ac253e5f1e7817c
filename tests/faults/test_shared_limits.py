"""Limits across two server processes sharing one Redis: each fires at its
configured count however the requests are spread over the processes
(alternating here), and while Redis is unreachable each process counts on
its own (the stated direction: see rate_limits.Limit) and Redis's count
is used again once it is back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import ExitStack
from itertools import count, cycle

import httpx
import pytest

from openplug.runtime import SIGN_IN_FAILURES
from tests.conversations.helpers import identified_token, start_conversation, widget
from tests.faults.test_faults import Cluster, Node, cluster  # noqa: F401
from tests.inbox.test_sign_in_limits import assert_limited, client_from, fresh_email
from tests.realtime.test_sockets import WAIT

_addresses = count(10)


@pytest.fixture
def address() -> str:
    """A client address of this test's own (loopback has all of 127/8)."""
    return f"127.0.3.{next(_addresses)}"


def alternate(
    nodes: tuple[Node, Node], address: str, times: int, request: Callable[[httpx.Client], int]
) -> list[int]:
    """``request`` ``times`` times, on A, B, A, ...: the statuses."""
    with ExitStack() as stack:
        clients = [stack.enter_context(client_from(n.server, address)) for n in nodes]
        return [request(c) for c, _ in zip(cycle(clients), range(times), strict=False)]


async def test_new_visitors_per_address(cluster: Cluster, address: str) -> None:  # noqa: F811
    three = {"new_visitors_per_address_per_hour": 3}
    nodes = await cluster.start(three, three)
    a, _ = nodes

    def new_visitor(c: httpx.Client) -> int:
        return c.post("/widget/session", json={"app_id": a.server.app_id}).status_code

    assert alternate(nodes, address, 3, new_visitor) == [200, 200, 200]
    for node in nodes:
        with client_from(node.server, address) as c:
            assert_limited(c.post("/widget/session", json={"app_id": a.server.app_id}))
    # Another address has its own allowance.
    assert alternate(nodes, f"{address}1", 2, new_visitor) == [200, 200]


async def test_failed_sign_ins_per_address(cluster: Cluster, address: str) -> None:  # noqa: F811
    nodes = await cluster.start(
        {"failed_sign_ins_per_address_per_hour": 3}, {"failed_sign_ins_per_address_per_hour": 3}
    )

    def wrong(c: httpx.Client) -> int:
        return c.post("/inbox/sign-in", json=fresh_email()).status_code

    assert alternate(nodes, address, 3, wrong) == [401, 401, 401]
    for node in nodes:
        with client_from(node.server, address) as c:
            r = c.post("/inbox/sign-in", json=fresh_email())
            assert_limited(r)
            assert "address" in r.json()["message"]


async def test_failed_sign_ins_per_email(cluster: Cluster) -> None:  # noqa: F811
    nodes = await cluster.start()
    a, _ = nodes
    assert a.server.first is not None
    guess = {"email": a.server.first.admin_email, "password": "not-the-password"}
    statuses = []
    # From a new address each time: only the email's count can stop it.
    for i, node in zip(range(SIGN_IN_FAILURES), cycle(nodes), strict=False):
        with client_from(node.server, f"127.0.4.{i + 1}") as c:
            statuses.append(c.post("/inbox/sign-in", json=guess).status_code)
    assert statuses == [401] * SIGN_IN_FAILURES
    for i, node in enumerate(nodes):
        with client_from(node.server, f"127.0.4.{100 + i}") as c:
            r = c.post("/inbox/sign-in", json=guess)
            assert_limited(r)
            assert "email" in r.json()["message"]


async def test_messages_per_visitor(cluster: Cluster) -> None:  # noqa: F811
    nodes = await cluster.start(
        {"messages_per_visitor_per_minute": 4}, {"messages_per_visitor_per_minute": 4}
    )
    a, b = nodes
    token = identified_token(a.server, "chatty@example.com")
    conversation = start_conversation(a.server, token, "one")  # a new conversation counts

    def post(node: Node, body: str) -> httpx.Response:
        return widget(node.server, token, "messages.create",
                      conversation=conversation["id"], body=body)  # fmt: skip

    statuses = [post(n, str(i)).status_code for i, n in zip(range(3), cycle((b, a)), strict=False)]
    assert statuses == [201, 201, 201]
    for node in nodes:
        assert_limited(post(node, "one too many"))
    # Another visitor is not affected.
    other = identified_token(b.server, "quiet@example.com")
    assert widget(b.server, other, "conversations.create", body="hi").status_code == 201


async def test_session_tokens_per_aat(cluster: Cluster) -> None:  # noqa: F811
    nodes = await cluster.start(
        {"session_tokens_per_aat_per_minute": 4}, {"session_tokens_per_aat_per_minute": 4}
    )
    a, _ = nodes
    for i, node in zip(range(4), cycle(nodes), strict=False):
        identified_token(node.server, f"page-{i}@example.com", aat=a.server.aat)
    for node in nodes:
        with node.server.client(a.server.aat) as c:
            r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "over@example.com"}})
        assert_limited(r)
        assert "AAT" in r.json()["message"]


async def test_while_redis_is_unreachable_each_process_counts_on_its_own(
    cluster: Cluster,  # noqa: F811
    address: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="openplug.rate_limits")
    nodes = await cluster.start(
        {"new_visitors_per_address_per_hour": 2}, {"new_visitors_per_address_per_hour": 2}
    )
    a, b = nodes

    def new_visitor(c: httpx.Client) -> int:
        return c.post("/widget/session", json={"app_id": a.server.app_id}).status_code

    assert alternate(nodes, address, 2, new_visitor) == [200, 200]
    with client_from(a.server, address) as c:
        assert new_visitor(c) == 429
        # A loses Redis: it counts this address afresh, in its own memory,
        # up to the same limit (never refusing everyone, never unlimited).
        a.redis.partition()
        assert [new_visitor(c), new_visitor(c), new_visitor(c)] == [200, 200, 429]
        warnings = [r.getMessage() for r in caplog.records if "Redis unreachable" in r.getMessage()]
        assert len(warnings) == 1
        a.redis.heal()
    # B kept counting in Redis all along; A is back on the shared count
    # (it tries Redis again OPENPLUG_REDIS_HEALTH_CHECK_SECONDS after the
    # failure; until then its own count, also full, refuses).
    with client_from(b.server, address) as c:
        assert new_visitor(c) == 429

    def back() -> bool:
        return any("reachable again" in r.getMessage() for r in caplog.records)

    with client_from(a.server, address) as c:
        async with asyncio.timeout(WAIT):
            while not back():
                assert new_visitor(c) == 429
                await asyncio.sleep(0.05)
