"""Realtime delivery latency, memory per idle widget socket and the widget's
transfer size, against a real server.

Why these measurements
----------------------
A support widget sits open and idle in thousands of visitors' tabs; what an
agent types must show up in the one tab it is meant for without delay,
however many other tabs are connected, and keeping a tab connected must
cost the server little. So, on ONE server process (``openplug serve``: one
uvicorn worker, SQLite, the in-process broker, a fresh temporary data
directory), with 2,000 visitors by default, each with an anonymous widget
session and a conversation of its own:

(a)/(b) DELIVERY LATENCY, ONE MESSAGE AT A TIME: an agent posts a reply
    with the HTTP agent API (``POST /timeline-entries.create`` with a PAT)
    into one visitor's conversation; the latency runs from just before the
    request's bytes are written to the moment that visitor's socket reads
    the ``message.created`` event. The next message goes only once both the
    HTTP response and the event are in, so nothing queues, neither in the
    load generator nor in the server. The visitors are drawn at random over
    all connected sockets. (a) runs with only the warm-up sockets connected,
    (b) with all of them: (b)/(a) is what the other connected sockets cost
    delivery. Target for (b): p99 < 50 ms.
    Baseline, same requests: the agent's HTTP round trip (to the complete
    response). The event is published by a background task after the
    commit, so it may arrive before or after that response (the share that
    came first is printed); delivery / round trip says how much the realtime
    path adds to what the agent's request costs anyway.
(c) DELIVERY LATENCY UNDER LOAD: an open-loop schedule at a fixed rate
    (50 messages/s by default), each message to a different conversation
    spread over all sockets, each sent when due however slow the answers
    are; a request waits only for a free connection of its pool and that
    wait is printed as "send lag" (it is not in the latency, so a large one
    means the server could not keep up with the rate). Target: p99 < 50 ms.
(d) SERVER MEMORY PER IDLE SOCKET: the server process's resident set
    (``VmRSS`` in ``/proc/<pid>/status``) once the warm-up sockets are
    connected and (a) has run, then at half and at all of the sockets, each
    authenticated, subscribed to ``user:<n>`` and to ``conversation:<n>``
    with ``after_seq`` (as the widget's frame does) and idle. RSS is read
    only once it has stopped changing (polled until stable, no fixed
    sleep; the server's garbage collector cannot be triggered from outside)
    and (delta RSS) / (sockets added) is printed for each step: the second
    shows the marginal cost once heap space freed by the setup is used up.
    Target: < 64 KiB per socket. Kernel socket buffers are not in RSS.
(e) TRANSFER SIZE: ``/static/plug.js`` (what every page of the customer's
    site loads; target <= 3 KiB gzipped) and everything the widget loads:
    the loader, the frame page ``/widget/frame?app_id=...`` and every
    same-origin file the frame references (its HTML ``src``/``href``, CSS
    ``url()``, ``/static/...`` literals in its scripts), fetched over HTTP
    from the running server; target <= 30 KiB gzipped in total. Bodies only
    (headers not counted). When the server does not send gzip itself, each
    body is compressed here with gzip level 9, as a CDN or proxy would.
    (1 KiB = 1,024 bytes throughout.)

The sockets are real WebSockets (the ``websockets`` library) that behave like
the widget's frame: they offer permessage-deflate as browsers do (not with
``--no-deflate``), authenticate, subscribe and answer the server's heartbeat
pings. The load generator is this process, on asyncio (uvloop when
installed), with its own minimal HTTP/1.1 client for the agent's requests
so that no client-library work is inside the measured interval; its CPU use
and event-loop lag are printed for every phase, so a client bottleneck
would show. The run raises the open-file limit, which the server inherits.

A run counts only when every message the agent posted (HTTP 201) reached
the socket of its conversation exactly once (none lost, none twice, none
on another socket or topic, seqs increasing), each visitor's ``user:<n>``
topic got one ``conversation.activity`` per message, no socket was closed,
refused anything or got an event nobody sent, every HTTP call succeeded and
the server logged no error; otherwise the script says so loudly and exits
with status 1. Missing a target is reported (PASS / ABOVE TARGET), not
failed.

Usage: ``.venv/bin/python bench/realtime.py [--sockets 2000] [--warm-sockets 100]
[--samples 300] [--rate 50] [--load-messages 500] [--no-deflate] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import math
import os
import platform
import random
import re
import resource
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

# Same directory: the server process, its CLI and git_revision are shared.
from identify import ROOT, BenchError, Check, Server, git_revision, run_and_report
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.version import version as websockets_version

TARGET_P99_MS = 50.0
TARGET_SOCKET_BYTES = 64 * 1024
TARGET_LOADER_BYTES = 3 * 1024
TARGET_WIDGET_BYTES = 30 * 1024

WAIT_S = 15.0  # a safety net against hangs: a frame or an answer that never comes
DELIVERY_TIMEOUT_S = 10.0  # after this a message counts as lost
RSS_POLL_S = 0.25
RSS_WINDOW = 8  # samples (2 s) within the tolerance = settled
RSS_TOLERANCE_KIB = 256
RSS_DEADLINE_S = 30.0
LAG_TICK_S = 0.005
PING = json.dumps({"type": "ping"})
PONG = json.dumps({"type": "pong"})

T = TypeVar("T")


# --- a minimal HTTP/1.1 client ----------------------------------------------------


class HttpConn:
    """One keep-alive HTTP/1.1 connection. The agent's request is written in
    one call and the clock starts right before it, so that no client-library
    work is counted as server latency (the same for the baseline)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> HttpConn:
        await self._ensure()
        return self

    async def _ensure(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._reader.at_eof():
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, bytes, float, float]:
        """(status, body, t_sent, t_answered) with ``time.perf_counter()``."""
        reader, writer = await self._ensure()
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        if token is not None:
            head.append(f"Authorization: {token}")
        if body is not None:
            head.append("Content-Type: application/json")
        head.append(f"Content-Length: {len(data)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode() + data
        t_sent = time.perf_counter()
        writer.write(raw)
        status_line = await reader.readline()
        if not status_line:
            await self.close()
            raise ConnectionError(f"{method} {path}: the server closed the connection")
        status = int(status_line.split()[1])
        length, chunked, close = 0, False, False
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while size := int((await reader.readline()).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readline()
            await reader.readline()
            payload = b"".join(parts)
        else:
            payload = await reader.readexactly(length)
        t_answered = time.perf_counter()
        if close:
            await self.close()
        return status, payload, t_sent, t_answered

    async def json(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        status, payload, _, _ = await self.request(method, path, body, token)
        return status, json.loads(payload or b"null")

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


# --- visitors and messages --------------------------------------------------------


@dataclass(slots=True)
class Sent:
    """One agent message: to whom, when, and every socket that received it."""

    marker: str  # the unique body
    target: int  # the visitor's index
    phase: str
    t_sched: float = math.nan  # open loop only: when it was due
    t_sent: float = math.nan
    t_answered: float = math.nan
    status: int = 0
    error: str = ""
    receipts: list[tuple[int, str, float]] = field(default_factory=list)  # (visitor, topic, t)
    waiter: asyncio.Future[None] | None = None

    def delivered_at(self) -> float | None:
        times = [t for (i, _, t) in self.receipts if i == self.target]
        return min(times) if times else None


@dataclass(slots=True)
class Visitor:
    index: int
    token: str
    user_topic: str
    conversation_id: str
    conv_topic: str
    ws: ClientConnection | None = None
    reader: asyncio.Task[None] | None = None
    pong: asyncio.Future[None] | None = None
    last_seq: int = 1  # the visitor's own first message
    activity: int = 0
    unexpected: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def key_of(object_id: str) -> int:
    return int(object_id.rsplit("/", 1)[-1])


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


# --- the server's process ---------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def raise_nofile(needed: int) -> tuple[int, int]:
    """Raise this process's open-file limit (the server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < needed:
        raise BenchError(
            f"open-file limit {soft} (hard {hard}) is below the {needed} this run needs: "
            "raise it (ulimit -n) or use fewer --sockets"
        )
    return soft, hard


@dataclass
class RssReading:
    label: str
    sockets: int
    kib: int
    settled: bool
    waited_s: float


async def settled_rss(pid: int, label: str, sockets: int) -> RssReading:
    """Poll RSS until the last ``RSS_WINDOW`` samples agree within the
    tolerance (or the deadline passes, which the report then says)."""
    start = time.monotonic()
    samples: list[int] = []
    while True:
        samples.append(rss_kib(pid))
        window = samples[-RSS_WINDOW:]
        waited = time.monotonic() - start
        if len(window) == RSS_WINDOW and max(window) - min(window) <= RSS_TOLERANCE_KIB:
            return RssReading(label, sockets, window[-1], True, waited)
        if waited > RSS_DEADLINE_S:
            return RssReading(label, sockets, window[-1], False, waited)
        await asyncio.sleep(RSS_POLL_S)


# --- per-phase accounting ---------------------------------------------------------


@dataclass
class Phase:
    label: str
    wall_s: float = 0.0
    server_cpu_s: float = 0.0
    bench_cpu_s: float = 0.0
    lags_ms: list[float] = field(default_factory=list)

    @property
    def server_pct(self) -> float:
        return 100 * self.server_cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def bench_pct(self) -> float:
        return 100 * self.bench_cpu_s / self.wall_s if self.wall_s else 0.0


class Meter:
    """Wall time, both processes' CPU and this event loop's lag (how late a
    5 ms sleep wakes up) while a phase runs."""

    def __init__(self, pid: int, label: str) -> None:
        self.pid = pid
        self.phase = Phase(label)
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(LAG_TICK_S)
            self.phase.lags_ms.append((time.perf_counter() - t - LAG_TICK_S) * 1e3)

    async def __aenter__(self) -> Phase:
        self._wall, self._server = time.perf_counter(), cpu_seconds(self.pid)
        self._bench = time.process_time()
        self._task = asyncio.get_running_loop().create_task(self._watch())
        return self.phase

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self.phase.wall_s = time.perf_counter() - self._wall
        self.phase.server_cpu_s = cpu_seconds(self.pid) - self._server
        self.phase.bench_cpu_s = time.process_time() - self._bench


# --- results ----------------------------------------------------------------------


@dataclass
class Latency:
    label: str
    key: str
    delivery_ms: list[float]
    http_ms: list[float]
    send_lag_ms: list[float]
    before_answer: int  # events read before the HTTP response was complete
    phase: Phase


@dataclass
class Transfer:
    path: str
    status: int
    raw: int
    gzipped: int
    served_gzip: bool
    cache_control: str


@dataclass
class Report:
    sockets: int = 0
    warm: int = 0
    extension: str = ""
    loop_name: str = ""
    nofile: tuple[int, int] = (0, 0)
    setup: list[Phase] = field(default_factory=list)
    latencies: list[Latency] = field(default_factory=list)
    rss: list[RssReading] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    external_refs: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


# --- transfer size ----------------------------------------------------------------


def fetch(url: str) -> tuple[int, bytes, bytes, dict[str, str]]:
    """(status, body as sent, body decoded, headers); asks for gzip."""
    req = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    try:
        with urllib.request.urlopen(req, timeout=WAIT_S) as resp:
            status, raw, headers = resp.status, resp.read(), dict(resp.headers.items())
    except urllib.error.HTTPError as e:
        status, raw, headers = e.code, e.read(), dict(e.headers.items())
    lower = {k.lower(): v for k, v in headers.items()}
    body = gzip.decompress(raw) if lower.get("content-encoding") == "gzip" else raw
    return status, raw, body, lower


_HTML_REF = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"'#]+)["']""", re.I)
_CSS_REF = re.compile(r"""url\(\s*["']?([^"')]+)["']?\s*\)""", re.I)
_JS_STATIC = re.compile(r"""["'`](/static/[^"'`\s]+)["'`]""")


def references(url: str, body: bytes, content_type: str) -> list[str]:
    text = body.decode("utf-8", errors="replace")
    if "html" in content_type:
        found = _HTML_REF.findall(text)
    elif "css" in content_type:
        found = _CSS_REF.findall(text)
    elif "javascript" in content_type:
        found = _JS_STATIC.findall(text)
    else:
        found = []
    return [urllib.parse.urljoin(url, ref.strip()) for ref in found if not ref.startswith("data:")]


def measure_transfer(base: str, app_id: str, report: Report) -> None:
    """The loader, then the frame page and everything it pulls in, each once."""
    origin = urllib.parse.urlsplit(base)[:2]
    frame = f"{base}/widget/frame?{urllib.parse.urlencode({'app_id': app_id})}"
    queue, seen = [f"{base}/static/plug.js", frame], set()
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        if urllib.parse.urlsplit(url)[:2] != origin:
            report.external_refs.append(url)
            continue
        status, raw, body, headers = fetch(url)
        served_gzip = headers.get("content-encoding") == "gzip"
        parts = urllib.parse.urlsplit(url)
        report.transfers.append(
            Transfer(
                path=parts.path + (f"?{parts.query}" if parts.query else ""),
                status=status,
                raw=len(body),
                gzipped=len(raw) if served_gzip else len(gzip.compress(body, compresslevel=9)),
                served_gzip=served_gzip,
                cache_control=headers.get("cache-control", "-"),
            )
        )
        if status == 200 and not url.endswith("/static/plug.js"):
            queue.extend(references(url, body, headers.get("content-type", "")))


# --- the benchmark ----------------------------------------------------------------


async def bounded(items: Sequence[T], workers: int, work: Callable[[T], Awaitable[None]]) -> None:
    """``work`` on every item, at most ``workers`` at a time; the first
    failure cancels the rest."""
    it = iter(items)

    async def worker() -> None:
        for item in it:
            await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(workers, len(items))):
                group.create_task(worker())
    except ExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


class Bench:
    def __init__(self, args: argparse.Namespace, server: Server, app_id: str, pat: str) -> None:
        assert server.proc is not None
        self.args = args
        self.pid = server.proc.pid
        self.host, self.port = "127.0.0.1", server.port
        self.ws_url = f"ws://127.0.0.1:{server.port}/widget/socket"
        self.server = server
        self.app_id, self.pat = app_id, pat
        self.visitors: list[Visitor] = []
        self.sent: dict[str, Sent] = {}
        self.run_tag = uuid.uuid4().hex[:8]
        self.rng = random.Random(args.seed)
        self.closing = False
        self.extensions: Counter[str] = Counter()

    # Setup

    async def create_visitors(self, report: Report) -> None:
        """An anonymous session and a conversation (seq 1, the visitor's own
        message) per visitor, over a pool of keep-alive connections."""
        n = self.args.sockets
        slots: list[Visitor | None] = [None] * n
        conns: asyncio.Queue[HttpConn] = asyncio.Queue()
        for _ in range(self.args.http_concurrency):
            conns.put_nowait(HttpConn(self.host, self.port))

        async def make(i: int) -> None:
            try:
                await make_one(i)
            except (OSError, ValueError, KeyError, asyncio.IncompleteReadError) as e:
                raise BenchError(f"creating visitor {i} failed: {e!r}") from e

        async def make_one(i: int) -> None:
            conn = await conns.get()
            try:
                status, data = await conn.json("POST", "/widget/session", {"app_id": self.app_id})
                if status != 200:
                    raise BenchError(f"POST /widget/session answered {status}: {data}")
                token, user_id = data["session_token"], data["user"]["id"]
                status, data = await conn.json(
                    "POST",
                    "/widget/conversations.create",
                    {"app_id": self.app_id, "body": f"visitor {i} says hello"},
                    token=token,
                )
                if status != 201:
                    raise BenchError(f"POST /widget/conversations.create answered {status}: {data}")
                conversation = data["conversation"]
                if conversation.get("last_seq", 1) != 1:
                    raise BenchError(f"a new conversation is not at seq 1: {conversation}")
            finally:
                conns.put_nowait(conn)
            slots[i] = Visitor(
                index=i,
                token=token,
                user_topic=f"user:{key_of(user_id)}",
                conversation_id=conversation["id"],
                conv_topic=f"conversation:{key_of(conversation['id'])}",
            )

        async with Meter(self.pid, f"{n:,} anonymous sessions + conversations") as phase:
            await bounded(range(n), self.args.http_concurrency, make)
        while not conns.empty():
            await conns.get_nowait().close()
        report.setup.append(phase)
        self.visitors = [v for v in slots if v is not None]

    async def _recv_json(self, ws: ClientConnection) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            text = await ws.recv()
        frame: dict[str, Any] = json.loads(text)
        return frame

    async def open_socket(self, v: Visitor) -> None:
        try:
            await self._open_socket(v)
        except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as e:
            raise BenchError(f"socket {v.index} could not connect and subscribe: {e!r}") from e

    async def _open_socket(self, v: Visitor) -> None:
        """Connect, authenticate and subscribe as the widget's frame does:
        its own ``user:<n>`` and its conversation after the last seq seen."""
        ws = await connect(
            self.ws_url,
            open_timeout=WAIT_S,
            close_timeout=5,
            ping_interval=None,  # browsers send no protocol pings; the server does
            compression=None if self.args.no_deflate else "deflate",
            max_size=2**20,
        )
        headers = ws.response.headers if ws.response is not None else {}
        self.extensions[headers.get("Sec-WebSocket-Extensions", "(none)")] += 1
        await ws.send(json.dumps({"type": "auth", "token": v.token, "app_id": self.app_id}))
        frame = await self._recv_json(ws)
        if frame.get("type") != "ready":
            raise BenchError(f"socket {v.index}: expected ready, got {frame}")
        await ws.send(json.dumps({"type": "subscribe", "topic": v.user_topic}))
        await ws.send(json.dumps({"type": "subscribe", "topic": v.conv_topic, "after_seq": 1}))
        waiting = {v.user_topic, v.conv_topic}
        while waiting:
            frame = await self._recv_json(ws)
            if frame.get("type") == "subscribed" and frame.get("topic") in waiting:
                waiting.discard(frame["topic"])
            elif frame.get("type") == "ping":
                await ws.send(PONG)
            else:
                raise BenchError(f"socket {v.index}: unexpected frame while subscribing: {frame}")
        v.ws = ws
        v.reader = asyncio.get_running_loop().create_task(self.read_loop(v))

    async def open_sockets(self, visitors: Sequence[Visitor], report: Report, label: str) -> None:
        async with Meter(self.pid, label) as phase:
            await bounded(visitors, self.args.ws_concurrency, self.open_socket)
            await self.barrier(visitors)
        report.setup.append(phase)

    # Receiving

    async def read_loop(self, v: Visitor) -> None:
        ws = v.ws
        assert ws is not None
        try:
            async for text in ws:
                t = time.perf_counter()
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "event":
                    self.on_event(v, frame, t)
                elif kind == "ping":
                    await ws.send(PONG)
                elif kind == "pong":
                    if v.pong is not None and not v.pong.done():
                        v.pong.set_result(None)
                else:
                    v.problems.append(f"unexpected frame {str(text)[:200]}")
        except ConnectionClosed:
            pass
        except Exception as e:
            v.problems.append(f"reader failed: {e!r}")
        if not self.closing:
            v.problems.append(f"socket closed early: code {ws.close_code} {ws.close_reason!r}")

    def on_event(self, v: Visitor, frame: dict[str, Any], t: float) -> None:
        event, topic = frame.get("event") or {}, frame.get("topic")
        if event.get("type") == "conversation.activity" and topic == v.user_topic:
            v.activity += 1
            return
        if event.get("type") != "message.created":
            v.unexpected.append(f"{topic}: {event.get('type')}")
            return
        seq = event.get("seq")
        if type(seq) is not int or seq <= v.last_seq:
            v.problems.append(f"seq {seq} after {v.last_seq} on {topic}")
        else:
            v.last_seq = seq
        body = (event.get("message") or {}).get("body")
        sent = self.sent.get(body) if isinstance(body, str) else None
        if sent is None:
            v.unexpected.append(f"{topic}: message {str(body)[:60]!r}")
            return
        sent.receipts.append((v.index, str(topic), t))
        if sent.waiter is not None and not sent.waiter.done() and v.index == sent.target:
            sent.waiter.set_result(None)

    async def barrier(self, visitors: Sequence[Visitor]) -> None:
        """Every socket answers a ping: the server handles a socket's frames
        in order, so everything queued for it before the ping has been read."""
        loop = asyncio.get_running_loop()

        async def one(v: Visitor) -> None:
            assert v.ws is not None
            v.pong = loop.create_future()
            try:
                await v.ws.send(PING)
                async with asyncio.timeout(WAIT_S):
                    await v.pong
            except (TimeoutError, ConnectionClosed):
                v.problems.append("no pong to a barrier ping")

        await bounded(visitors, 500, one)

    # Sending

    def new_message(self, v: Visitor, phase: str) -> Sent:
        marker = f"bench {self.run_tag} #{len(self.sent) + 1} for visitor {v.index}"
        sent = self.sent[marker] = Sent(marker, v.index, phase)
        return sent

    async def post(self, conn: HttpConn, sent: Sent) -> None:
        v = self.visitors[sent.target]
        body = {
            "object": v.conversation_id,
            "type": "timeline_comment",
            "body": sent.marker,
            "body_type": "text",
        }
        try:
            status, payload, sent.t_sent, sent.t_answered = await conn.request(
                "POST", "/timeline-entries.create", body, token=self.pat
            )
        except (OSError, ValueError, asyncio.IncompleteReadError) as e:
            sent.error = repr(e)
            await conn.close()
            return
        sent.status = status
        if status != 201:
            sent.error = f"HTTP {status}: {payload[:200]!r}"

    def spread(self, count: int, among: Sequence[Visitor]) -> list[Visitor]:
        """``count`` visitors drawn at random over ``among``, without
        repeats until every one has had a turn."""
        picked: list[Visitor] = []
        while len(picked) < count:
            picked += self.rng.sample(list(among), min(len(among), count - len(picked)))
        return picked

    async def one_at_a_time(self, key: str, label: str, among: Sequence[Visitor]) -> Latency:
        conn = await HttpConn(self.host, self.port).open()
        loop = asyncio.get_running_loop()
        messages: list[Sent] = []
        async with Meter(self.pid, label) as phase:
            for v in self.spread(self.args.samples, among):
                sent = self.new_message(v, key)
                sent.waiter = loop.create_future()
                messages.append(sent)
                await self.post(conn, sent)
                if sent.status != 201:
                    continue
                try:
                    async with asyncio.timeout(DELIVERY_TIMEOUT_S):
                        await sent.waiter
                except TimeoutError:
                    pass  # lost: reported by the checks
        await conn.close()
        return self.latency(key, label, messages, phase)

    async def open_loop(self, key: str, label: str, among: Sequence[Visitor]) -> Latency:
        rate, count = self.args.rate, self.args.load_messages
        pool: asyncio.Queue[HttpConn] = asyncio.Queue()
        for _ in range(self.args.load_connections):
            pool.put_nowait(await HttpConn(self.host, self.port).open())
        messages: list[Sent] = []

        async def send(sent: Sent) -> None:
            conn = await pool.get()
            try:
                await self.post(conn, sent)
            finally:
                pool.put_nowait(conn)

        targets = self.spread(count, among)
        async with Meter(self.pid, label) as phase:
            tasks: list[asyncio.Task[None]] = []
            start = time.perf_counter() + 0.05
            for i, v in enumerate(targets):
                sent = self.new_message(v, key)
                sent.t_sched = start + i / rate
                messages.append(sent)
                delay = sent.t_sched - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.get_running_loop().create_task(send(sent)))
            await asyncio.gather(*tasks)
            await self.wait_delivered(messages)
        while not pool.empty():
            await pool.get_nowait().close()
        return self.latency(key, label, messages, phase)

    async def wait_delivered(self, messages: Sequence[Sent]) -> None:
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while time.monotonic() < deadline:
            if all(m.status != 201 or m.delivered_at() is not None for m in messages):
                return
            await asyncio.sleep(0.01)

    def latency(self, key: str, label: str, messages: Sequence[Sent], phase: Phase) -> Latency:
        delivery, http_rtt, lag, before = [], [], [], 0
        for m in messages:
            at = m.delivered_at()
            if m.status == 201:
                http_rtt.append((m.t_answered - m.t_sent) * 1e3)
            if not math.isnan(m.t_sched) and not math.isnan(m.t_sent):
                lag.append((m.t_sent - m.t_sched) * 1e3)
            if at is not None and not math.isnan(m.t_sent):
                delivery.append((at - m.t_sent) * 1e3)
                before += at < m.t_answered
        return Latency(label, key, delivery, http_rtt, lag, before, phase)

    async def close_all(self) -> None:
        self.closing = True

        async def close(v: Visitor) -> None:
            if v.ws is not None:
                await v.ws.close()
            if v.reader is not None:
                await asyncio.gather(v.reader, return_exceptions=True)

        await bounded(self.visitors, 200, close)

    # The run

    async def run(self, report: Report) -> None:
        args = self.args
        print(f"creating {args.sockets:,} anonymous visitors, each with a conversation ...")
        await self.create_visitors(report)
        self.alive("the setup")
        print(f"  done in {report.setup[-1].wall_s:.1f} s")
        warm, rest = self.visitors[: args.warm_sockets], self.visitors[args.warm_sockets :]
        half = max(0, args.sockets // 2 - args.warm_sockets)
        try:
            print(f"warm-up: {len(warm):,} sockets ...", end="", flush=True)
            await self.open_sockets(warm, report, f"{len(warm):,} sockets connect+auth+subscribe")
            self.alive("the warm-up")
            print(f" (a) {args.samples} messages one at a time ...", end="", flush=True)
            report.latencies.append(
                await self.one_at_a_time("a", f"(a) one at a time, {len(warm):,} sockets", warm)
            )
            self.alive("(a)")
            await self.barrier(warm)
            print(" memory ...", end="", flush=True)
            report.rss.append(await settled_rss(self.pid, "after warm-up", len(warm)))
            print(" done")
            connected = len(warm)
            for group in (rest[:half], rest[half:]):
                if not group:
                    continue
                connected += len(group)
                print(f"connecting {len(group):,} more sockets ...", end="", flush=True)
                await self.open_sockets(
                    group, report, f"{len(group):,} more sockets connect+auth+subscribe"
                )
                self.alive("connecting sockets")
                print(f" {report.setup[-1].wall_s:.1f} s; memory ...", end="", flush=True)
                report.rss.append(await settled_rss(self.pid, "idle", connected))
                print(f" settled in {report.rss[-1].waited_s:.1f} s")
            n = len(self.visitors)
            print(f"(b) {args.samples} messages one at a time, {n:,} sockets ...")
            report.latencies.append(
                await self.one_at_a_time("b", f"(b) one at a time, {n:,} sockets", self.visitors)
            )
            self.alive("(b)")
            print(
                f"(c) {args.load_messages:,} messages at {args.rate:g}/s open loop, "
                f"{n:,} sockets ..."
            )
            report.latencies.append(
                await self.open_loop(
                    "c", f"(c) {args.rate:g} msg/s open loop, {n:,} sockets", self.visitors
                )
            )
            self.alive("(c)")
            await self.wait_delivered(list(self.sent.values()))
            await self.barrier(self.visitors)
        finally:
            report.extension = ", ".join(f"{k} x{c:,}" for k, c in self.extensions.items())
            await self.close_all()

    def alive(self, after: str) -> None:
        """Stop at once, loudly, when the server has gone."""
        assert self.server.proc is not None
        if self.server.proc.poll() is not None:
            raise BenchError(
                f"the server exited (status {self.server.proc.returncode}) during {after}:\n"
                f"{self.server.log_tail()}"
            )

    # Checks

    def verify(self, report: Report) -> None:
        sent = list(self.sent.values())
        failed_http = [m for m in sent if m.status != 201]
        ok_sent = [m for m in sent if m.status == 201]
        lost = [m for m in ok_sent if m.delivered_at() is None]
        twice = [m for m in ok_sent if sum(i == m.target for i, _, _ in m.receipts) > 1]
        wrong = [m for m in sent if any(i != m.target for i, _, _ in m.receipts)]
        off_topic = [
            m
            for m in sent
            if any(t != self.visitors[m.target].conv_topic for _, t, _ in m.receipts)
        ]
        add = report.checks.append
        add(
            Check(
                "agent HTTP calls",
                not failed_http,
                f"{len(ok_sent):,} of {len(sent):,} POST /timeline-entries.create answered 201"
                + (f"; first failure: {failed_http[0].error}" if failed_http else ""),
            )
        )
        add(
            Check(
                "exactly once, to the right socket",
                not (lost or twice or wrong or off_topic),
                f"{len(ok_sent):,} sent; lost {len(lost)}, twice {len(twice)}, "
                f"on another socket {len(wrong)}, on another topic {len(off_topic)}"
                + (f"; e.g. lost {lost[0].marker!r}" if lost else ""),
            )
        )
        unexpected = [(v.index, u) for v in self.visitors for u in v.unexpected]
        add(
            Check(
                "no event that was not sent",
                not unexpected,
                f"{len(unexpected)} unexpected events"
                + (
                    f"; first on socket {unexpected[0][0]}: {unexpected[0][1]}"
                    if unexpected
                    else ""
                ),
            )
        )
        per_target = Counter(m.target for m in ok_sent)
        bad_activity = [v for v in self.visitors if v.activity != per_target[v.index]]
        add(
            Check(
                "conversation.activity on each user topic",
                not bad_activity,
                f"one per message on {len(self.visitors) - len(bad_activity):,} of "
                f"{len(self.visitors):,} sockets"
                + (
                    f"; socket {bad_activity[0].index}: {bad_activity[0].activity} for "
                    f"{per_target[bad_activity[0].index]}"
                    if bad_activity
                    else ""
                ),
            )
        )
        problems = [(v.index, p) for v in self.visitors for p in v.problems]
        add(
            Check(
                "sockets stayed open, seqs increased, no error frame",
                not problems,
                f"{len(problems)} problems on {len({i for i, _ in problems})} of "
                f"{len(self.visitors):,} sockets"
                + (f"; first on socket {problems[0][0]}: {problems[0][1]}" if problems else ""),
            )
        )

    def check_server(self, report: Report, server: Server) -> None:
        assert server.proc is not None
        alive = server.proc.poll() is None
        report.checks.append(
            Check(
                "server alive after the run",
                alive,
                f"pid {self.pid}" + ("" if alive else " exited"),
            )
        )
        text = server.log_path.read_text(errors="replace") if server.log_path.exists() else ""
        bad = [ln for ln in text.splitlines() if "ERROR" in ln or "Traceback" in ln]
        warnings = sum("WARNING" in ln for ln in text.splitlines())
        report.checks.append(
            Check(
                "server log: no ERROR, no traceback",
                not bad,
                f"{len(bad)} error lines, {warnings} warnings"
                + (f"; first: {bad[0]}" if bad else ""),
            )
        )


def run_benchmark(args: argparse.Namespace, tmp: Path) -> Report:
    report = Report(load_before=os.getloadavg(), sockets=args.sockets, warm=args.warm_sockets)
    # Both sides hold a descriptor per socket; the server inherits this limit.
    report.nofile = raise_nofile(args.sockets + 512)
    server = Server(tmp / "data", tmp / "server.log")
    # Every simulated visitor comes from 127.0.0.1: lift the per-address
    # limit on new anonymous visitors that would stop a real script.
    server.env["OPENPLUG_NEW_VISITORS_PER_ADDRESS_PER_HOUR"] = "0"
    try:
        print(f"starting openplug serve on {server.base} (data dir {tmp / 'data'}) ...")
        server.start()
        assert server.proc is not None
        print(f"  server pid {server.proc.pid} answers /health")
        apps = [a for a in server.cli("apps", "list")["apps"] if not a["require_identification"]]
        if not apps:
            raise BenchError("no app without require_identification: no anonymous visitors")
        app_id = apps[0]["app_id"]
        pat = server.cli("pat", "create", "--hint", "bench")["token"]
        print(f"  app {app_id}; PAT created with the CLI")
        print("measuring the widget's transfer size ...")
        measure_transfer(server.base, app_id, report)
        bench = Bench(args, server, app_id, pat)
        loop_factory = new_event_loop()
        report.loop_name = loop_factory.__module__.split(".")[0]
        try:
            with asyncio.Runner(loop_factory=loop_factory) as runner:
                runner.run(bench.run(report))
        except (OSError, ConnectionClosed) as e:
            bench.alive("the run")
            raise BenchError(f"the run broke off: {e!r}") from e
        bench.verify(report)
        bench.check_server(report, server)
        report.load_after = os.getloadavg()
    finally:
        server.stop()
    return report


def new_event_loop() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


# --- the report -------------------------------------------------------------------


def verdict_below(value: float, target: float, valid: bool, *, strict: bool = True) -> str:
    if not valid:
        return "INVALID (see checks)"
    ok = value < target if strict else value <= target
    return "PASS" if ok else "ABOVE TARGET"


def kib(n: float) -> str:
    return f"{n / 1024:,.1f} KiB"


def print_report(args: argparse.Namespace, report: Report) -> bool:
    ok = all(c.ok for c in report.checks)
    width = 100
    print()
    print("=" * width)
    print("openplug realtime benchmark")
    print(
        f"  machine  {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(f"  code     {ROOT} at {git_revision()}")
    print("  server   openplug serve, 1 process / 1 uvicorn worker, SQLite, in-process broker")
    print(
        f"  client   this process: {report.loop_name} event loop, websockets {websockets_version}"
        f", permessage-deflate {'not offered' if args.no_deflate else 'offered (as browsers do)'}"
    )
    print(f"           negotiated: {report.extension or '-'}")
    print(
        f"  sockets  {report.sockets:,} ({report.warm:,} for the warm-up); open-file limit "
        f"{report.nofile[0]:,}"
    )
    lb, la = report.load_before, report.load_after
    busy = "  (CPU shared with other work: expect noise)" if lb[0] >= 0.5 else ""
    print(f"  load     1-min load average {lb[0]:.2f} at start, {la[0]:.2f} at end{busy}")
    print("=" * width)

    print("setup")
    for p in report.setup:
        print(
            f"  {p.label:<48}{p.wall_s:>7.1f} s  server CPU {p.server_pct:>4.0f}%  "
            f"bench CPU {p.bench_pct:>4.0f}%"
        )

    print()
    print(
        "delivery latency, agent POST -> visitor socket (ms); baseline: the same POST's HTTP "
        "round trip"
    )
    print(
        f"  {'run':<38}{'n':>6}{'p50':>7}{'p90':>7}{'p99':>7}{'max':>7}  |"
        f"{'http p50':>9}{'p99':>7}{'max':>7}  |{'p50/http':>9}"
    )
    for r in report.latencies:
        d, h = r.delivery_ms, r.http_ms
        ratio = percentile(d, 50) / percentile(h, 50) if h else math.nan
        print(
            f"  {r.label:<38}{len(d):>6,}{percentile(d, 50):>7.2f}{percentile(d, 90):>7.2f}"
            f"{percentile(d, 99):>7.2f}{max(d, default=math.nan):>7.2f}  |"
            f"{percentile(h, 50):>9.2f}{percentile(h, 99):>7.2f}{max(h, default=math.nan):>7.2f}"
            f"  |{ratio:>8.2f}x"
        )
    by_key = {r.key: r for r in report.latencies}
    if "a" in by_key and "b" in by_key:
        a, b = by_key["a"], by_key["b"]
        print(
            f"  (b)/(a), what {report.sockets - report.warm:,} more idle sockets cost: p50 "
            f"{percentile(b.delivery_ms, 50) / percentile(a.delivery_ms, 50):.2f}x, p99 "
            f"{percentile(b.delivery_ms, 99) / percentile(a.delivery_ms, 99):.2f}x"
        )
    for r in report.latencies:
        p, share = r.phase, 100 * r.before_answer / len(r.delivery_ms) if r.delivery_ms else 0
        extra = ""
        if r.send_lag_ms:
            extra = (
                f"; send lag p99 {percentile(r.send_lag_ms, 99):.2f} ms, "
                f"max {max(r.send_lag_ms):.2f} ms"
            )
        print(
            f"  {r.key}: {p.wall_s:.1f} s, server CPU {p.server_pct:.0f}%, bench CPU "
            f"{p.bench_pct:.0f}%, bench loop lag p99 {percentile(p.lags_ms, 99):.2f} ms "
            f"max {max(p.lags_ms, default=0):.2f} ms; event before the HTTP answer "
            f"{share:.0f}%{extra}"
        )

    print()
    print("server memory (VmRSS once settled)")
    base = report.rss[0] if report.rss else None
    prev = base
    for m in report.rss:
        line = f"  {m.label:<16}{m.sockets:>6,} sockets  {m.kib / 1024:>8.1f} MiB"
        if prev is not None and m is not prev and m.sockets > prev.sockets:
            step = (m.kib - prev.kib) * 1024 / (m.sockets - prev.sockets)
            line += f"  +{kib(step)}/socket over the last {m.sockets - prev.sockets:,}"
        line += f"  (settled after {m.waited_s:.1f} s)" if m.settled else "  (NOT SETTLED)"
        print(line)
        prev = m
    per_socket = math.nan
    if base is not None and report.rss[-1].sockets > base.sockets:
        last = report.rss[-1]
        per_socket = (last.kib - base.kib) * 1024 / (last.sockets - base.sockets)
        print(
            f"  per idle socket, {base.sockets:,} -> {last.sockets:,}: {kib(per_socket)} "
            f"({per_socket / TARGET_SOCKET_BYTES:.2f}x the target)"
        )

    print()
    print("widget transfer size (bodies; gzip -9 here unless the server sent gzip)")
    print(f"  {'file':<44}{'status':>7}{'raw':>10}{'gzip':>9}  {'by':<7}cache-control")
    for t in report.transfers:
        print(
            f"  {t.path[:44]:<44}{t.status:>7}{t.raw:>10,}{t.gzipped:>9,}  "
            f"{'server' if t.served_gzip else 'bench':<7}{t.cache_control}"
        )
    loader = next((t for t in report.transfers if t.path == "/static/plug.js"), None)
    total = sum(t.gzipped for t in report.transfers)
    print(f"  {'total':<44}{'':>7}{sum(t.raw for t in report.transfers):>10,}{total:>9,}")
    for ref in report.external_refs:
        print(f"  (not counted: off-origin reference {ref})")

    print()
    print("against the targets")
    transfers_ok = bool(report.transfers) and all(t.status == 200 for t in report.transfers)
    rows: list[tuple[str, str, str, str]] = []
    for r in report.latencies:
        if r.key == "a":
            continue  # the few-sockets baseline of (b)
        p99 = percentile(r.delivery_ms, 99)
        rows.append(
            (
                f"delivery p99 {r.label}",
                f"{p99:.2f} ms",
                f"< {TARGET_P99_MS:g} ms",
                verdict_below(p99, TARGET_P99_MS, ok),
            )
        )
    rows.append(
        (
            "server memory per idle socket",
            kib(per_socket),
            f"< {kib(TARGET_SOCKET_BYTES)}",
            verdict_below(
                per_socket, TARGET_SOCKET_BYTES, ok and all(m.settled for m in report.rss)
            ),
        )
    )
    if loader is not None:
        rows.append(
            (
                "loader /static/plug.js, gzipped",
                f"{loader.gzipped:,} B",
                f"<= {TARGET_LOADER_BYTES:,} B",
                verdict_below(loader.gzipped, TARGET_LOADER_BYTES, transfers_ok, strict=False),
            )
        )
    rows.append(
        (
            "everything the widget loads, gzipped",
            f"{total:,} B",
            f"<= {TARGET_WIDGET_BYTES:,} B",
            verdict_below(total, TARGET_WIDGET_BYTES, transfers_ok, strict=False),
        )
    )
    for label, value, target, verdict in rows:
        print(f"  {label:<52}{value:>12}  (target {target:<12}) {verdict}")

    print()
    print("checks")
    if not transfers_ok:
        report.checks.append(
            Check("widget files fetched", False, "a widget file did not answer 200")
        )
    for c in report.checks:
        print(f"  [{'ok' if c.ok else 'FAIL'}] {c.label}: {c.detail}")
    print("=" * width)
    return all(c.ok for c in report.checks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sockets", type=int, default=2000, help="visitor sockets in total")
    parser.add_argument(
        "--warm-sockets",
        type=int,
        default=100,
        help="sockets open for the warm-up, run (a) and the memory baseline",
    )
    parser.add_argument(
        "--samples", type=int, default=300, help="messages in each one-at-a-time run, (a) and (b)"
    )
    parser.add_argument(
        "--rate", type=float, default=50.0, help="messages per second in the open-loop run (c)"
    )
    parser.add_argument(
        "--load-messages", type=int, default=500, help="messages in the open-loop run (c)"
    )
    parser.add_argument(
        "--http-concurrency",
        type=int,
        default=8,
        help="HTTP connections creating the visitors (more only queues on SQLite's writer)",
    )
    parser.add_argument(
        "--load-connections",
        type=int,
        default=32,
        help="HTTP connections the open-loop run (c) may use at once",
    )
    parser.add_argument(
        "--ws-concurrency", type=int, default=64, help="sockets being opened at a time"
    )
    parser.add_argument(
        "--no-deflate", action="store_true", help="do not offer permessage-deflate (browsers do)"
    )
    parser.add_argument("--seed", type=int, default=1, help="which visitors get messages")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()
    if args.sockets < 2 or not 1 <= args.warm_sockets < args.sockets:
        parser.error("--sockets must be >= 2 and 1 <= --warm-sockets < --sockets")
    if args.samples < 1 or args.rate <= 0 or args.load_messages < 1:
        parser.error("--samples and --load-messages must be >= 1, --rate > 0")
    if min(args.http_concurrency, args.load_connections, args.ws_concurrency) < 1:
        parser.error("--http-concurrency, --load-connections and --ws-concurrency must be >= 1")
    return run_and_report(
        args, "openplug-bench-rt-", run_benchmark, print_report, "data/, server.log"
    )


if __name__ == "__main__":
    sys.exit(main())
