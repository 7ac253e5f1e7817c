"""One process vs two behind the reference proxy, on PostgreSQL and Redis.

Why these measurements
----------------------
Several processes are only worth running if a second one adds capacity
and if a message posted on one process reaches a socket held by another
about as fast as one held by the same process. So, in one run, against
real ``openplug serve`` processes (one uvicorn worker each) sharing a fresh
PostgreSQL database and a ``redis-server`` of the bench's own, each behind
Debian's HAProxy started from ``deploy/haproxy.cfg`` as shipped:

(a) THROUGHPUT of ``auth-tokens.create`` (a returning identified visitor:
    the call every page view of a site makes), closed loop with ``wrk``
    (``--connections`` connections for ``--duration`` seconds after a
    warm-up), through a proxy whose two ``server`` lines both name process
    1 (one process), then through a proxy naming processes 1 and 2 (two).
    Printed: requests/s each and two/one. Target: >= 1.8.
(b) DELIVERY LATENCY with ``--sockets`` widget sockets (2,000 by default),
    each an anonymous visitor with a conversation of its own, connected
    through the two-process proxy (least connections: half on each). An
    agent posts a reply (``timeline-entries.create`` with a PAT) straight
    to one process, one message at a time, alternately to the process that
    holds the visitor's socket (same-process: the in-process fan-out) and
    to the other one (cross-process: through Redis); the latency runs from
    just before the request is sent to the moment the socket reads its
    ``message.created`` event. Printed: p50/p99 of each and cross/same p99.
    Target: <= 1.5.

The load generator (this process and wrk), HAProxy, PostgreSQL and Redis
share the machine with the servers: on a machine with fewer cores than
processes the ratio in (a) measures the machine, not openplug. The number
of cores and the load average are printed with the figures.

    .venv/bin/python bench/scaleout.py [--sockets 2000] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "deploy" / "haproxy.cfg"
OPENPLUG = str(Path(sys.executable).parent / "openplug")
PG_ADMIN = os.environ.get(
    "OPENPLUG_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SERVED_BY = "x-openplug-server"


class BenchError(Exception):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


def wait_http(url: str, process: subprocess.Popen[bytes], log: Path, deadline: float = 90) -> None:
    end = time.monotonic() + deadline
    while True:
        if process.poll() is not None:
            raise BenchError(f"{url}: exited {process.returncode}\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > end:
            raise BenchError(f"{url} did not answer\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


@dataclass
class Processes:
    tmp: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@contextmanager
def database() -> Iterator[str]:
    name = f"openplug_scaleout_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN, timeout=10)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Deployment:
    one: str  # the proxy in front of process 1 only
    two: str  # the proxy in front of processes 1 and 2
    process_urls: dict[str, str]  # HAProxy's server name -> the process's URL
    aat: str
    pat: str
    app_id: str


def deploy(args: argparse.Namespace, procs: Processes, db_url: str) -> Deployment:
    tmp = procs.tmp
    redis_port = free_port()
    redis = procs.start("redis", ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                        os.environ.copy())  # fmt: skip
    end = time.monotonic() + 10
    while subprocess.run(["redis-cli", "-p", str(redis_port), "ping"], capture_output=True,
                         check=False).stdout.strip() != b"PONG":  # fmt: skip
        if redis.poll() is not None or time.monotonic() > end:
            raise BenchError("redis-server did not start")
        time.sleep(0.05)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUG_")}
    env.update(
        OPENPLUG_DATA_DIR=str(tmp / "data"),
        OPENPLUG_DATABASE_URL=db_url,
        OPENPLUG_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",
        OPENPLUG_LOG_LEVEL="warning",
        OPENPLUG_NEW_VISITORS_PER_ADDRESS_PER_HOUR="0",
        OPENPLUG_MESSAGES_PER_VISITOR_PER_MINUTE="0",
        OPENPLUG_DEMO="false",
    )
    done = subprocess.run([OPENPLUG, "init", "--json"], env=env, capture_output=True, text=True,
                          timeout=180, check=False)  # fmt: skip
    if done.returncode != 0:
        raise BenchError(f"openplug init: {done.stderr}")
    first = json.loads(done.stdout)
    ports = [free_port(), free_port()]
    urls = {}
    for i, port in enumerate(ports, 1):
        p = procs.start(f"openplug{i}", [OPENPLUG, "serve", "--port", str(port)], env)
        wait_http(f"http://127.0.0.1:{port}/health", p, tmp / f"openplug{i}.log")
        urls[f"openplug{i}"] = f"http://127.0.0.1:{port}"
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        raise BenchError("haproxy is not installed (apt-get install haproxy)")
    proxies = []
    for name, servers in (("one", (ports[0], ports[0])), ("two", (ports[0], ports[1]))):
        listen = free_port()
        proxy_env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/bin"),
            "OPENPLUG_LISTEN": f"127.0.0.1:{listen}",
            "OPENPLUG_SERVER_1": f"127.0.0.1:{servers[0]}",
            "OPENPLUG_SERVER_2": f"127.0.0.1:{servers[1]}",
        }
        p = procs.start(f"haproxy-{name}", [haproxy, "-db", "-f", str(CONFIG)], proxy_env)
        wait_http(f"http://127.0.0.1:{listen}/ready", p, tmp / f"haproxy-{name}.log")
        proxies.append(f"http://127.0.0.1:{listen}")
    return Deployment(proxies[0], proxies[1], urls, first["demo_app"]["aat"],
                      first["admin"]["pat"], first["demo_app"]["app_id"])  # fmt: skip


# --- (a) throughput --------------------------------------------------------------


WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = '{"rev_info": {"user_ref": "returning@scaleout.example"}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "%s"
done = function(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format("BENCH_RESULT %%d %%d %%d %%d\\n", summary.requests, summary.duration,
    non2xx, latency:percentile(99)))
end
"""


@dataclass
class Throughput:
    label: str
    requests: int
    seconds: float
    non_2xx: int
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def wrk(base: str, aat: str, tmp: Path, seconds: int, connections: int, label: str) -> Throughput:
    script = tmp / "auth.lua"
    script.write_text(WRK_SCRIPT % aat)
    cmd = ["wrk", "--threads=2", f"--connections={connections}", f"--duration={seconds}s",
           "--timeout=10s", f"--script={script}", f"{base}/auth-tokens.create"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise BenchError(f"wrk failed: {done.stdout}\n{done.stderr}")
    requests, duration_us, non_2xx, p99_us = (int(x) for x in line.split()[1:])
    return Throughput(label, requests, duration_us / 1e6, non_2xx, p99_us / 1e3)


# --- (b) delivery ------------------------------------------------------------------


@dataclass
class Visitor:
    token: str
    conversation_id: str
    topic: str
    served_by: str = ""
    ws: ClientConnection | None = None
    waiting: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    seq: int = 1


async def make_visitors(base: str, app_id: str, n: int) -> list[Visitor]:
    limits = httpx.Limits(max_connections=32)
    visitors: list[Visitor] = []
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:

        async def one(_: int) -> None:
            r = await c.post("/widget/session", json={"app_id": app_id})
            r.raise_for_status()
            token = r.json()["session_token"]
            r = await c.post("/widget/conversations.create", headers={"Authorization": token},
                             json={"app_id": app_id, "body": "hello"})  # fmt: skip
            r.raise_for_status()
            conv = r.json()["conversation"]
            key = int(conv["id"].rsplit("/", 1)[-1])
            visitors.append(Visitor(token, conv["id"], f"conversation:{key}"))

        queue = list(range(n))

        async def worker() -> None:
            while queue:
                await one(queue.pop())

        await asyncio.gather(*(worker() for _ in range(32)))
    return visitors


async def connect_visitor(base: str, app_id: str, v: Visitor) -> None:
    url = base.replace("http://", "ws://") + "/widget/socket"
    ws = await connect(url, open_timeout=60, max_size=2**20, compression=None)
    assert ws.response is not None
    v.served_by = ws.response.headers[SERVED_BY]
    await ws.send(json.dumps({"type": "auth", "token": v.token, "app_id": app_id}))
    while json.loads(await ws.recv())["type"] != "ready":
        pass
    await ws.send(json.dumps({"type": "subscribe", "topic": v.topic, "after_seq": 1}))
    while json.loads(await ws.recv())["type"] != "subscribed":
        pass
    v.ws = ws


async def read_frames(v: Visitor) -> None:
    assert v.ws is not None
    async for raw in v.ws:
        frame = json.loads(raw)
        if frame["type"] == "ping":
            await v.ws.send('{"type":"pong"}')
        elif frame["type"] == "event" and frame["event"]["type"] == "message.created":
            waiter = v.waiting.pop(int(frame["event"]["seq"]), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(time.perf_counter())


async def delivery(d: Deployment, args: argparse.Namespace) -> dict[str, list[float]]:
    visitors = await make_visitors(d.two, d.app_id, args.sockets)
    sem = asyncio.Semaphore(50)

    async def connect_one(v: Visitor) -> None:
        async with sem:
            await connect_visitor(d.two, d.app_id, v)

    await asyncio.gather(*(connect_one(v) for v in visitors))
    readers = [asyncio.create_task(read_frames(v)) for v in visitors]
    spread: dict[str, int] = {}
    for v in visitors:
        spread[v.served_by] = spread.get(v.served_by, 0) + 1
    print(f"  sockets: {len(visitors)}, by process: {spread}")
    latencies: dict[str, list[float]] = {"same": [], "cross": []}
    clients = {name: httpx.AsyncClient(base_url=url, headers={"Authorization": d.pat}, timeout=30)
               for name, url in d.process_urls.items()}  # fmt: skip
    try:
        for i in range(args.messages * 2):
            v = random.choice(visitors)
            kind = "same" if i % 2 == 0 else "cross"
            target = (
                v.served_by
                if kind == "same"
                else next(n for n in d.process_urls if n != v.served_by)
            )
            v.seq += 1
            arrived: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            v.waiting[v.seq] = arrived
            sent = time.perf_counter()
            r = await clients[target].post(
                "/timeline-entries.create",
                json={
                    "object": v.conversation_id,
                    "type": "timeline_comment",
                    "body": f"reply {i}",
                },
            )
            if r.status_code != 201:
                raise BenchError(f"timeline-entries.create: {r.status_code} {r.text}")
            at = await asyncio.wait_for(arrived, 30)
            if i >= 20:  # the first few warm both paths up
                latencies[kind].append((at - sent) * 1000)
    finally:
        for c in clients.values():
            await c.aclose()
        for task in readers:
            task.cancel()
        await asyncio.gather(*(v.ws.close() for v in visitors if v.ws is not None),
                             return_exceptions=True)  # fmt: skip
    return latencies


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=200, help="per kind (same, cross)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per throughput run")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    raise_nofile(args.sockets * 4 + 1000)
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="openplug-scaleout-") as tmp_name, database() as db:
        procs = Processes(Path(tmp_name))
        try:
            d = deploy(args, procs, db)
            tmp = Path(tmp_name)
            for base in (d.one, d.two):  # warm-up: connections, caches, the returning visitor
                wrk(base, d.aat, tmp, 3, args.connections, "warm-up")
            one = wrk(d.one, d.aat, tmp, args.duration, args.connections, "1 process")
            two = wrk(d.two, d.aat, tmp, args.duration, args.connections, "2 processes")
            print("(a) auth-tokens.create, returning visitor, through HAProxy")
            for t in (one, two):
                print(f"  {t.label:12} {t.rate:8.0f} req/s  p99 {t.p99_ms:6.1f} ms"
                      f"  non-2xx {t.non_2xx}")  # fmt: skip
            ratio = two.rate / one.rate
            verdict = "meets" if ratio >= 1.8 else "below"
            print(f"  two/one: {ratio:.2f}x ({verdict} the 1.8x target)")
            print(f"(b) delivery with {args.sockets} sockets over both processes")
            latencies = asyncio.run(delivery(d, args))
            for kind in ("same", "cross"):
                values = latencies[kind]
                p50, p99_ms = statistics.median(values), percentile(values, 99)
                label = kind + "-process"
                print(f"  {label:14} n={len(values):4}  p50 {p50:6.1f} ms  p99 {p99_ms:6.1f} ms")
            p99 = percentile(latencies["cross"], 99) / percentile(latencies["same"], 99)
            verdict = "meets" if p99 <= 1.5 else "above"
            print(f"  cross/same p99: {p99:.2f}x ({verdict} the 1.5x target)")
            print(f"load average {os.getloadavg()[0]:.1f} at the end")
        finally:
            procs.stop_all()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"bench failed: {e}", file=sys.stderr)
        sys.exit(1)
