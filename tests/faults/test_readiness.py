"""``/ready`` on a deployment of two processes: failing, with the reason,
while PostgreSQL or Redis cannot be reached from a process (or the schema
is not the one its code needs), and passing again once they can, without a
restart; ``/health`` (liveness) answers throughout."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from openplug.readiness import newest_migration
from tests.conftest import ServerFactory
from tests.faults.test_faults import Cluster, Node, cluster  # noqa: F401
from tests.live_server import TLS


def ready(node: Node) -> tuple[int, dict[str, Any]]:
    with httpx.Client(verify=TLS, base_url=node.server.base_url, timeout=30) as c:
        assert c.get("/health").status_code == 200
        r = c.get("/ready")
    return r.status_code, r.json()


async def test_ready_fails_while_postgresql_or_redis_is_away_and_passes_after(
    cluster: Cluster,  # noqa: F811
) -> None:
    a, b = await cluster.start({"ready_timeout_seconds": 1.0}, {"ready_timeout_seconds": 1.0})
    ok = {"status": "ready", "checks": {"database": "ok", "redis": "ok"}}
    assert ready(a) == (200, ok)
    # A loses PostgreSQL; B does not.
    a.postgres.partition()
    status, body = ready(a)
    assert status == 503, body
    assert body["status"] == "not_ready"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"] in ("no answer within 1 s", "not reachable")
    assert ready(b) == (200, ok)
    a.postgres.heal()
    assert ready(a) == (200, ok)
    # Redis stops answering everyone.
    cluster.redis.pause()
    for node in (a, b):
        status, body = ready(node)
        assert status == 503, body
        assert body["checks"] == {"database": "ok", "redis": "no answer within 1 s"}
    cluster.redis.resume()
    assert ready(a) == (200, ok)
    assert ready(b) == (200, ok)
    # A connection to Redis dropped silently: noticed, then ready again.
    b.redis.drop()
    status, body = ready(b)
    assert status in (200, 503), body  # a fresh connection may already answer
    assert ready(b) == (200, ok)


def test_ready_without_redis_and_with_a_schema_behind(make_server: ServerFactory) -> None:
    server = make_server()
    with server.client() as c:
        r = c.get("/ready")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "redis": "not configured"}
    asyncio.run(server.sql("UPDATE alembic_version SET version_num = '0001'"))
    try:
        with server.client() as c:
            r = c.get("/ready")
        assert r.status_code == 503, r.text
        assert r.json()["checks"]["database"] == (
            f"schema at 0001, this release needs {newest_migration()}"
        )
    finally:
        asyncio.run(server.sql("UPDATE alembic_version SET version_num = :v", v=newest_migration()))
