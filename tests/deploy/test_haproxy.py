"""The reference deployment's proxy: Debian's HAProxy started from
``deploy/haproxy.cfg`` as shipped, in front of two openplug processes on
one PostgreSQL and one Redis. Requests and sockets are spread over both
without stickiness, the WebSocket upgrade passes, and a reply posted
through one process reaches a socket held through the other."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.backends import missing_backend, postgres_database
from tests.conftest import ServerFactory
from tests.conversations.helpers import agent_reply, identified_token, start_conversation
from tests.deploy.processes import free_port
from tests.faults.redis_server import RedisServer
from tests.live_server import TLS, LiveServer
from tests.realtime.test_sockets import conv_topic, message_seqs, visitor_socket

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "haproxy.cfg"
SERVED_BY = "x-openplug-server"


class Proxy:
    """What ``visitor_socket`` needs of a server: its URL and app."""

    def __init__(self, base_url: str, app_id: str) -> None:
        self.base_url = base_url
        self.app_id = app_id


@pytest.fixture
def deployment(
    make_server: ServerFactory, tmp_path: Path
) -> Iterator[tuple[Proxy, LiveServer, LiveServer]]:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(binary).exists():
        missing_backend("haproxy is not installed (apt-get install haproxy)")
    redis = RedisServer(tmp_path).start()
    proxy_process: subprocess.Popen[bytes] | None = None
    try:
        with postgres_database() as url:
            redis_url = f"redis://127.0.0.1:{redis.port}/0"
            a = make_server(database_url=url, redis_url=redis_url)
            b = make_server(database_url=url, redis_url=redis_url, data_dir=a.settings.data_dir)
            b.first = a.first
            port = free_port()
            env = {
                "OPENPLUG_LISTEN": f"127.0.0.1:{port}",
                "OPENPLUG_SERVER_1": a.base_url.removeprefix("http://"),
                "OPENPLUG_SERVER_2": b.base_url.removeprefix("http://"),
                "PATH": "/usr/sbin:/usr/bin:/bin",
            }
            log = (tmp_path / "haproxy.log").open("wb")
            proxy_process = subprocess.Popen(
                [binary, "-db", "-f", str(CONFIG)], env=env, stdout=log, stderr=subprocess.STDOUT
            )
            proxy = Proxy(f"http://127.0.0.1:{port}", a.app_id)
            _wait_until_both_serve(proxy, proxy_process, tmp_path / "haproxy.log")
            yield proxy, a, b
    finally:
        if proxy_process is not None:
            proxy_process.terminate()
            proxy_process.wait(10)
        redis.stop()


def _wait_until_both_serve(proxy: Proxy, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until HAProxy's health checks (GET /ready) have put both in rotation."""
    deadline = time.monotonic() + 30
    seen: set[str] = set()
    with httpx.Client(verify=TLS, base_url=proxy.base_url, timeout=5) as c:
        while seen != {"openplug1", "openplug2"}:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"haproxy: {log.read_text()}")
            try:
                r = c.get("/health")
                if r.status_code == 200:
                    seen.add(r.headers[SERVED_BY])
            except httpx.TransportError:
                pass
            time.sleep(0.05)


async def test_requests_and_sockets_spread_over_both_processes_without_stickiness(
    deployment: tuple[Proxy, LiveServer, LiveServer],
) -> None:
    proxy, a, b = deployment
    token = identified_token(a, "balanced@example.com")
    # Each call on a connection of its own lands on either process, and
    # each answers for the same data.
    served: dict[str, int] = {}
    headers = {"Authorization": token}
    async with httpx.AsyncClient(verify=TLS, base_url=proxy.base_url, headers=headers) as c:
        r = await c.post("/widget/conversations.create", json={"app_id": a.app_id, "body": "hi"})
        assert r.status_code == 201, r.text
        conversation: dict[str, Any] = r.json()["conversation"]
    for i in range(6):
        async with httpx.AsyncClient(verify=TLS, base_url=proxy.base_url, headers=headers) as one:
            body = {"app_id": a.app_id, "conversation": conversation["id"], "body": f"m{i}"}
            r = await one.post("/widget/messages.create", json=body)
        assert r.status_code == 201, r.text
        served[r.headers[SERVED_BY]] = served.get(r.headers[SERVED_BY], 0) + 1
    assert set(served) == {"openplug1", "openplug2"}, served
    topic = conv_topic(conversation)
    # Two sockets through the proxy: least connections puts them on
    # different processes; each gets every event, whoever published it.
    async with visitor_socket(proxy, token) as one, visitor_socket(proxy, token) as two:  # type: ignore[arg-type]
        where = {one.ws.response.headers[SERVED_BY], two.ws.response.headers[SERVED_BY]}
        assert where == {"openplug1", "openplug2"}
        for client in (one, two):
            assert message_seqs(await client.subscribe(topic, after_seq=7)) == []
        for server, body in ((a, "from A"), (b, "from B")):
            agent_reply(server, conversation["id"], body)
        for client in (one, two):
            first = await client.event("message.created", topic, seq=8)
            second = await client.event("message.created", topic, seq=9)
            assert [first["message"]["body"], second["message"]["body"]] == ["from A", "from B"]
    assert start_conversation(b, token, "still fine")["id"] != conversation["id"]
