"""A real agent's inbox sign-in while a storm of sign-ins hits the server.

Why these measurements
----------------------
Every sign-in costs an argon2 verification (about 0.2 s of a core, by
design), so sign-ins are the cheapest way to make the server burn CPU: the
security review's finding 8 saw one address send 200 sign-ins with fresh
emails and a real agent's sign-in take 29.6 s instead of 0.26 s. What
matters is what the storm does to everybody else, so on ONE server process
(``openplug serve``: one uvicorn worker, SQLite, a fresh data directory):

(0) QUIET: ``GET /health`` (a trivial JSON endpoint on the same uvicorn,
    the baseline), one at a time, and a real agent's ``POST
    /inbox/sign-in`` (right password), one at a time, from other addresses.
(1) STORM FROM ONE ADDRESS: ``--storm`` sign-ins with fresh emails written
    at once from 127.0.0.2 on connections opened beforehand; once they are
    all written, the agent signs in from 127.0.0.4 (one request, timed) while
    ``GET /health`` runs one at a time from 127.0.0.3 until the storm has
    been answered. Repeated ``--rounds`` times from the same address.
(2) STORM FROM MANY ADDRESSES: the same, the storm spread round-robin over
    ``--addresses`` addresses 127.0.1.1, ... (fresh ones each round): what a
    per-address limit cannot stop, reported so that it is not mistaken for
    solved.

Printed: the agent's sign-in latency in each storm as a ratio to its quiet
latency, /health's p50 and p99 during the storms as ratios to quiet, the
storm's answers by status and how long they took to drain. Latencies run
from just before a request's bytes are written to the end of its response
(the minimal HTTP client of bench/realtime.py, extended to pick the source
address; Linux routes all of 127.0.0.0/8 to loopback). Nothing here is a
pass/fail target; a run fails only when a request errs or the agent's
sign-in is not a 200.

Usage: ``.venv/bin/python bench/signin_storm.py [--storm 200] [--rounds 3]
[--addresses 50] [--keep]``
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Same directory: the server process, the CLI, the HTTP client are shared.
from identify import BenchError, Server, git_revision, run_and_report
from realtime import HttpConn, percentile

STORM_ADDRESS = "127.0.0.2"
HEALTH_ADDRESS = "127.0.0.3"
AGENT_ADDRESS = "127.0.0.4"
QUIET_HEALTH = 200
QUIET_SIGN_INS = 9


class ConnFrom(HttpConn):
    """``HttpConn`` from a chosen source address: the server counts
    per-address limits by it."""

    def __init__(self, host: str, port: int, source: str) -> None:
        super().__init__(host, port)
        self.source = source

    async def _ensure(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._reader.at_eof():
            await self.close()
            self._reader, self._writer = await asyncio.open_connection(
                self.host, self.port, local_addr=(self.source, 0)
            )
        return self._reader, self._writer


@dataclass
class Storm:
    label: str
    agent_ms: float
    agent_status: int
    answers: Counter[int]
    drain_s: float
    health_ms: list[float] = field(default_factory=list)


@dataclass
class Report:
    storm: int
    quiet_health_ms: list[float] = field(default_factory=list)
    quiet_sign_in_ms: list[float] = field(default_factory=list)
    storms: list[Storm] = field(default_factory=list)


class Bench:
    def __init__(self, server: Server, agent_email: str, agent_password: str) -> None:
        self.server = server
        self.agent = {"email": agent_email, "password": agent_password}
        self.port = server.port

    def conn(self, source: str) -> ConnFrom:
        return ConnFrom("127.0.0.1", self.port, source)

    async def timed(self, conn: HttpConn, method: str, path: str, body: object = None) -> float:
        status, _, sent, answered = await conn.request(method, path, body)
        if path == "/health" and status != 200:
            raise BenchError(f"GET /health answered {status}")
        return (answered - sent) * 1000

    async def agent_sign_in(self, conn: HttpConn) -> tuple[int, float]:
        status, payload, sent, answered = await conn.request("POST", "/inbox/sign-in", self.agent)
        if status != 200:
            raise BenchError(f"the agent's sign-in answered {status}: {payload[:200]!r}")
        return status, (answered - sent) * 1000

    async def quiet(self, report: Report) -> None:
        health, agent = await self.conn(HEALTH_ADDRESS).open(), self.conn(AGENT_ADDRESS)
        for _ in range(QUIET_HEALTH):
            report.quiet_health_ms.append(await self.timed(health, "GET", "/health"))
        for _ in range(QUIET_SIGN_INS):
            report.quiet_sign_in_ms.append((await self.agent_sign_in(agent))[1])
        await health.close()
        await agent.close()

    async def storm(self, label: str, sources: list[str], size: int) -> Storm:
        conns = [self.conn(sources[i % len(sources)]) for i in range(size)]
        await asyncio.gather(*(c.open() for c in conns))
        health = await self.conn(HEALTH_ADDRESS).open()
        agent = await self.conn(AGENT_ADDRESS).open()
        prefix = uuid.uuid4().hex[:8]
        started = time.perf_counter()
        sent = [
            asyncio.create_task(
                c.request(
                    "POST",
                    "/inbox/sign-in",
                    {"email": f"storm-{prefix}-{i}@example.com", "password": "p" * 12},
                )
            )
            for i, c in enumerate(conns)
        ]
        # One turn of the loop: every task has written its request (the
        # connections are open, so nothing before the write waits).
        await asyncio.sleep(0)
        done = asyncio.gather(*sent)
        health_ms: list[float] = []

        async def sample_health() -> None:
            while not done.done():
                health_ms.append(await self.timed(health, "GET", "/health"))

        sampler = asyncio.create_task(sample_health())
        status, agent_ms = await self.agent_sign_in(agent)
        answers = Counter(status for status, *_ in await done)
        drain_s = time.perf_counter() - started
        await sampler
        for c in [*conns, health, agent]:
            await c.close()
        unexpected = set(answers) - {401, 429}
        if unexpected:
            raise BenchError(f"{label}: the storm got answers {dict(answers)}")
        return Storm(label, agent_ms, status, answers, drain_s, health_ms)


def check_sources(addresses: list[str]) -> None:
    for address in addresses:
        with socket.socket() as s:
            try:
                s.bind((address, 0))
            except OSError as e:
                raise BenchError(f"cannot send from {address} (needs Linux loopback): {e}") from e


def run_benchmark(args: argparse.Namespace, tmp: Path) -> Report:
    many = [f"127.0.{1 + r}.{1 + i}" for r in range(args.rounds) for i in range(args.addresses)]
    check_sources([STORM_ADDRESS, HEALTH_ADDRESS, AGENT_ADDRESS, *many[:1], *many[-1:]])
    server = Server(tmp / "data", tmp / "server.log")
    report = Report(storm=args.storm)
    try:
        print(f"starting openplug serve on {server.base} ...")
        server.start()
        agent = server.cli("agents", "create", "--email", "agent@bench.example")
        bench = Bench(server, "agent@bench.example", agent["password"])

        async def run() -> None:
            await bench.quiet(report)
            for r in range(args.rounds):
                label = f"(1) one address, round {r + 1}"
                report.storms.append(await bench.storm(label, [STORM_ADDRESS], args.storm))
            for r in range(args.rounds):
                sources = many[r * args.addresses : (r + 1) * args.addresses]
                label = f"(2) {args.addresses} addresses, round {r + 1}"
                report.storms.append(await bench.storm(label, sources, args.storm))

        asyncio.run(run())
    finally:
        server.stop()
    return report


def print_report(args: argparse.Namespace, report: Report) -> bool:
    health_p50 = statistics.median(report.quiet_health_ms)
    health_p99 = percentile(report.quiet_health_ms, 99)
    sign_in = statistics.median(report.quiet_sign_in_ms)
    print(f"\nopenplug {git_revision()}; storm of {report.storm} sign-ins with fresh emails")
    print(f"(0) quiet: GET /health p50 {health_p50:.2f} ms, p99 {health_p99:.2f} ms")
    print(
        f"    agent sign-in p50 {sign_in:.0f} ms "
        f"(of {', '.join(f'{v:.0f}' for v in report.quiet_sign_in_ms)}) = "
        f"{sign_in / health_p50:.0f}x /health"
    )
    for s in report.storms:
        answers = ", ".join(f"{n} x {code}" for code, n in sorted(s.answers.items()))
        h50 = statistics.median(s.health_ms) if s.health_ms else float("nan")
        h99 = percentile(s.health_ms, 99)
        print(f"{s.label}: storm answered in {s.drain_s:.2f} s ({answers})")
        print(f"    agent sign-in {s.agent_ms:.0f} ms = {s.agent_ms / sign_in:.2f}x quiet")
        print(
            f"    /health during the storm ({len(s.health_ms)} requests): p50 {h50:.2f} ms"
            f" = {h50 / health_p50:.2f}x, p99 {h99:.2f} ms = {h99 / health_p99:.2f}x quiet"
        )
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--storm", type=int, default=200, help="sign-ins per storm")
    parser.add_argument("--rounds", type=int, default=3, help="storms of each kind")
    parser.add_argument("--addresses", type=int, default=50, help="addresses in (2)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    args = parser.parse_args()
    if args.storm < 1 or args.rounds < 1 or not 1 <= args.addresses <= 250:
        parser.error("--storm and --rounds must be >= 1, --addresses 1 to 250")
    return run_and_report(
        args, "openplug-signin-", run_benchmark, print_report, "data/, server.log"
    )


if __name__ == "__main__":
    raise SystemExit(main())
