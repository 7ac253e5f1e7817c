"""Throughput of ``POST /auth-tokens.create`` (identify) against a real server.

Why these measurements
----------------------
``auth-tokens.create`` with an AAT and a ``rev_info`` is the call a customer's
website backend makes on every page load that shows the widget, so it is the
server's hot path. What matters is how much it costs *on top of* simply
answering HTTP in this process model, so every figure is reported as a ratio
to a baseline measured in the same run, on the same server process:

(0) baseline ``GET /health``: a trivial JSON endpoint. It costs uvicorn's
    HTTP handling, Starlette/FastAPI routing and the middleware, nothing
    else. It is run both before and after the others and the mean is used;
    the two values are printed so that machine noise is visible.
(a) a RETURNING user whose traits have not changed: the common case. It
    should be a read-only pass (AAT lookup, request validation, three
    lookups by ref, JWT signing) with no write transaction. Target: at least
    0.7x the baseline.
(b) FIRST-TIME users, a unique ``user_ref`` per request (wrk's ``request()``
    with a thread id and a counter, plus a per-run prefix): the write path,
    serialised through SQLite's single writer. Target: at least 0.3x the
    baseline. Two variants: (b1) a new user in an existing account and
    workspace; (b2) a new user, a new account and a new workspace.

The load generator is ``wrk`` in its own process (an efficient C client, so
that the client is not what is measured; 1 thread by default because the
machine it was written for has 2 cores and the server needs one of them).
One server process with one uvicorn worker serves every measurement, with
SQLite (the default backend) in a fresh temporary data directory.

A run only counts when wrk saw no non-2xx/3xx responses (wrk counts status
>= 400) and no socket errors (connect, read, write, timeout); otherwise the
script says so loudly and exits with status 1. After each (b) run it checks
with ``rev-users.list`` that the number of rev users grew by the number of
requests completed (warm-up included), give or take the requests still in
flight when wrk stopped; after (b2) it checks accounts and workspaces too.
Missing a throughput target is reported (PASS / BELOW TARGET), not failed.

Usage: ``.venv/bin/python bench/identify.py [--duration 10] [--connections 32]
[--threads 1] [--warmup 2] [--keep] [--backends sqlite,postgres]``

Where the time went (issue 12)
------------------------------
Profiled in process (the ASGI app called directly, no sockets; the garbage
collector frozen as under ``openplug serve``; CPU per request, best of five
batches, on the shared 2-core machine, so read the proportions).

Before: ``GET /health`` 112-129 µs, where bare Starlette's app takes about
30. Most of it was FastAPI's per-request machinery on the route
(``request_response``, dependency solving, response serialisation and
``jsonable_encoder``: about 60%), FastAPI's OpenTelemetry hooks asking the
global providers on every request whether they were configured (6-15%),
the exception and exit-stack middleware and the router (about 10%), and
openplug's five ASGI layers (about 15%: the Prometheus counter and
histogram about 6 µs, the request id and its structlog context about 4).
A returning visitor's identify paid the same layers (it was already
hand-served below the router) plus its work: on SQLite about 500 µs, on
PostgreSQL about 1,500, where each of the two point reads (the AAT, then
the user, workspace and account) cost about 330 µs of CPU, 240 of them
taking a connection from SQLAlchemy's pool and giving it back (three
greenlet hops, the pool's checkout and checkin events). First-time
identifies on PostgreSQL ran one transaction each through
``AsyncConnection.run_sync``.

After: ``/health`` about 23 µs (``web.fast_routes`` serves it and
``auth-tokens.create`` straight from the innermost middleware; telemetry
off; a bodiless GET skips the body layers): what is left is openplug's
observer (about 10 µs, mostly Prometheus), the other layers (about 4) and
Starlette's outermost error middleware. Identify about 390 µs on SQLite
(the AAT read about 70, the read phase about 90, signing the JWT about 65,
parsing the body about 30; a client address is parsed once per host) and
about 890 on PostgreSQL (each point read about 145 µs on connections of
its own); first-time identifies on PostgreSQL share a transaction per
batch as on SQLite.

Then the identify itself (``--in-process``, which calls the ASGI app in this
process, best of five batches; ``--profile DIR`` writes cProfile files).
Returning visitor on SQLite, about 380-440 µs, by cProfile's shares: the AAT
read about 15% (the digest, the read, a dict per row), identify's read
phase 16% (the read 12, splitting the row 2), signing the JWT 13% (PyJWS's
``encode`` 8: its header dict, JSON and base64; HS256 itself 2), validating
the body 6%, reading it 4%, ``resolve_rev_info`` 3% (the account's domains
checked as host names), an audit ``Actor`` built and never used 2%, the
response 3%, and the ASGI layers around it (observer and Prometheus, body
limit, text guard) about 15%. On PostgreSQL (about 690 µs) each of the two
point reads was a full round trip: a ``send``, an ``epoll`` wake-up and
asyncpg's bind/execute/parse, together about half the request.

Removed: the AAT and the user, workspace and account are now read in one
statement (``principals.authenticate_aat_reading``: the CRM rows LEFT
JOINed onto the AAT's row, and only onto a live AAT's, so a caller without
one learns nothing from it); the token row is still read on every request,
so a revocation is refused by the next request on every process (an
in-process cache of verified AATs was judged not worth it: with several
processes it needs a published invalidation, and the read it would save is
now shared with the read identify needs anyway). Result processors are not
called for NULLs, and the session path builds no audit ``Actor``. A
first-time user in a known account and workspace (b1) no longer re-reads
the workspace's account under the write lock when the read phase found it
in that account (one statement, and on PostgreSQL one round trip, fewer
per new user in each batch). In process, before -> after, on a machine
loaded far beyond its two cores (1-minute load 6-14, so only the direction
and rough size are to be trusted): returning visitor on PostgreSQL 686 ->
548, 1,375 -> 936 and 1,927 -> 1,684 µs in three pairs of runs, on SQLite
within the noise (380-790 either way); b1 on PostgreSQL 3,062 -> 1,430 and
3,325 -> 1,601 µs, on SQLite within the noise (745-1,189 -> 858-895); b2 4,375 -> 2,173 and 4,952 ->
4,553 on PostgreSQL, 1,139-1,489 -> 1,111-1,190 on SQLite. What is left on
PostgreSQL's write path is SQLAlchemy's execution of each INSERT (about
half of a new user's CPU: its execution context and a greenlet hop per
statement); running them straight on the asyncpg connection, as SQLite's
``DirectWrite`` does on ``sqlite3``, is the next step.

Last measured (wrk, this script, ``--duration 5 --warmup 1``, 1-minute
load average about 7 from other work on the machine): see the README's
"Performance" section for the figures of the two runs.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

from baseline import Baselines, Rate, cpu_ratio_line, process_cpu_s

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ROOT / ".venv" / "bin"
OPENPLUG = VENV_BIN / "openplug"

# Ratios to the bare Starlette endpoint measured in the same run (issue 12).
TARGET_RETURNING = 0.7
TARGET_RETURNING_PG = 0.5
TARGET_FIRST_TIME = 0.3
TARGET_HEALTH = 0.9
TARGET_PG_CPU = 1.5  # PostgreSQL returning user's CPU per request / SQLite's
HEALTH_DEADLINE_S = 60.0
WRK_TIMEOUT = "10s"

# The spec example (identity-api.md) without custom fields: none are declared.
RETURNING_REV_INFO: dict[str, Any] = {
    "user_ref": "example@devrev.ai",
    "account_ref": "devrev.ai",
    "workspace_ref": "devrev-dev",
    "user_traits": {
        "email": "test-user@devrev.ai",
        "display_name": "Devrev Test User",
        "phone_numbers": ["+911122334455"],
    },
    "account_traits": {"display_name": "Devrev", "domains": ["devrev.ai"]},
}

R = TypeVar("R")  # what a benchmark's run returns for its report
MakeScript = Callable[[str], str]  # a per-run prefix -> wrk Lua source
REF = "__REF__"  # replaced by a unique ref per request in the Lua scripts


class BenchError(Exception):
    """Setup failed: there is nothing to report."""


# --- results --------------------------------------------------------------------


@dataclass
class WrkResult:
    label: str
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    connect: int
    read: int
    write: int
    timeout: int
    cpu_s: float = 0.0  # the server process's CPU during the measured run

    @property
    def cpu_per_request_us(self) -> float:
        return self.cpu_s / self.requests * 1e6 if self.requests else 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def socket_errors(self) -> int:
        return self.connect + self.read + self.write + self.timeout

    @property
    def ok(self) -> bool:
        return self.non_2xx == 0 and self.socket_errors == 0 and self.requests > 0


@dataclass
class Check:
    label: str
    ok: bool
    detail: str


@dataclass
class Suite:
    """One run: the bare baselines and a report per backend."""

    baselines: Baselines
    reports: dict[str, Report] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class Report:
    runs: dict[str, WrkResult] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    warmups: dict[str, WrkResult] = field(default_factory=dict)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)


# --- the server -----------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def server_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUG_")}
    env["OPENPLUG_DATA_DIR"] = str(data_dir)
    env["OPENPLUG_LOG_LEVEL"] = "warning"
    if database_url:
        env["OPENPLUG_DATABASE_URL"] = database_url
    return env


PG_ADMIN_DSN = os.environ.get(
    "OPENPLUG_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class PostgresDatabase:
    """A fresh PostgreSQL database for one bench run, dropped afterwards
    (``psql`` against ``OPENPLUG_BENCH_POSTGRES``, the admin DSN)."""

    def __init__(self) -> None:
        self.name = f"openplug_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = (
            PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
            + f"/{self.name}"
        )

    def _psql(self, statement: str) -> None:
        done = subprocess.run(
            ["psql", PG_ADMIN_DSN, "-v", "ON_ERROR_STOP=1", "-qc", statement],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"psql {statement!r} failed: {done.stderr}")

    def __enter__(self) -> PostgresDatabase:
        self._psql(f'CREATE DATABASE "{self.name}"')
        return self

    def __exit__(self, *_exc: object) -> None:
        self._psql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


class Server:
    def __init__(self, data_dir: Path, log_path: Path, database_url: str | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = server_env(data_dir, database_url)
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            # Own session: a Ctrl-C in the terminal reaches this script only,
            # which then shuts the server down itself.
            self.proc = subprocess.Popen(
                [str(OPENPLUG), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
        deadline = time.monotonic() + HEALTH_DEADLINE_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"server exited with status {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                status, _ = http(self.base, "GET", "/health", timeout=1.0)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise BenchError(f"/health did not answer within {HEALTH_DEADLINE_S:.0f} s")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        # uvicorn shuts down gracefully on SIGINT; escalate only if it hangs.
        for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            proc.send_signal(sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                print(f"server did not stop after {sig.name}", file=sys.stderr)

    def cli(self, *args: str) -> dict[str, Any]:
        """Run ``openplug <args> --json`` against the same data directory."""
        done = subprocess.run(
            [str(OPENPLUG), *args, "--json"],
            env=self.env,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise BenchError(f"openplug {' '.join(args)} failed:\n{done.stderr}")
        data: dict[str, Any] = json.loads(done.stdout)
        return data


def http(
    base: str,
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if token is not None:
        req.add_header("Authorization", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def count_all(base: str, pat: str, path: str, key: str) -> int:
    """How many records a CRM list endpoint returns, following the cursor."""
    total, cursor = 0, None
    while True:
        query = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        status, data = http(base, "GET", f"{path}?{urllib.parse.urlencode(query)}", token=pat)
        if status != 200:
            raise BenchError(f"GET {path} answered {status}: {data}")
        total += len(data[key])
        cursor = data.get("next_cursor")
        if not cursor:
            return total


# --- wrk ------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk is not on PATH. Install it with:  apt-get install -y wrk", file=sys.stderr)
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("running as root: trying apt-get install -y wrk ...", file=sys.stderr)
        env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "wrk"]
        if subprocess.run(install, env=env, check=False).returncode != 0:
            subprocess.run(["apt-get", "update"], env=env, check=False)
            subprocess.run(install, env=env, check=False)
        found = shutil.which("wrk")
        if found:
            return found
    raise BenchError("wrk is required: apt-get install -y wrk")


# Printed by every script so that the numbers come from wrk's own summary
# rather than from parsing its human-readable output. Latencies are in µs.
LUA_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %.0f, "duration_us": %.0f, "non_2xx": %.0f, ' ..
    '"connect": %.0f, "read": %.0f, "write": %.0f, "timeout": %.0f, ' ..
    '"p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, "max_us": %.0f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write,
    e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
"""


def lua_string(text: str) -> str:
    assert "]==]" not in text
    return f"[==[{text}]==]"


def lua_headers(aat: str | None) -> str:
    """A POST's JSON content type and AAT; no headers for ``GET /health``."""
    pairs = {"Content-Type": "application/json"} if aat is not None else {}
    if aat is not None:
        pairs["Authorization"] = aat
    return "{" + ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in pairs.items()) + "}"


def lua_static(method: str, body: str | None, aat: str | None) -> str:
    """Every request the same: wrk builds it once."""
    lines = [f"wrk.method = {lua_string(method)}", f"wrk.headers = {lua_headers(aat)}"]
    if body is not None:
        lines.append(f"wrk.body = {lua_string(body)}")
    return "\n".join(lines) + "\n" + LUA_DONE


def lua_unique(path: str, template: str, aat: str, prefix: str) -> str:
    """A fresh ref per request: ``<prefix>-t<thread>-<counter>``, never repeated
    because ``prefix`` is new for every wrk invocation."""
    return f"""
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local headers = {lua_headers(aat)}
local template = {lua_string(template)}
local n = 0

function request()
  n = n + 1
  local ref = string.format("%s-t%d-%d", {lua_string(prefix)}, tid, n)
  local body = string.gsub(template, "{REF}", ref)
  return wrk.format("POST", {lua_string(path)}, headers, body)
end
{LUA_DONE}"""


_WRK_RUNS = itertools.count(1)


class Wrk:
    def __init__(self, exe: str, base: str, lua_dir: Path, args: argparse.Namespace) -> None:
        self.exe = exe
        self.base = base
        self.lua_dir = lua_dir
        self.connections: int = args.connections
        self.threads: int = args.threads
        self.duration: int = args.duration
        self.warmup: int = args.warmup
        self.cpu_pid: int | None = None  # the server whose CPU each measured run records

    def run(
        self, label: str, path: str, script: str, seconds: int, cpu_pid: int | None = None
    ) -> WrkResult:
        n = next(_WRK_RUNS)
        lua = self.lua_dir / f"{n:02d}.lua"
        lua.write_text(script)
        cmd = [
            self.exe,
            f"--threads={self.threads}",
            f"--connections={self.connections}",
            f"--duration={seconds}s",
            f"--timeout={WRK_TIMEOUT}",
            f"--script={lua}",
            self.base + path,
        ]
        cpu_before = process_cpu_s(cpu_pid) if cpu_pid else 0.0
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        cpu_s = process_cpu_s(cpu_pid) - cpu_before if cpu_pid else 0.0
        (self.lua_dir / f"{n:02d}.out").write_text(done.stdout + done.stderr)
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH_RESULT ")), None)
        if done.returncode != 0 or line is None:
            raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        r = json.loads(line.removeprefix("BENCH_RESULT "))
        return WrkResult(
            label=label,
            requests=int(r["requests"]),
            duration_s=r["duration_us"] / 1e6,
            p50_ms=r["p50_us"] / 1e3,
            p90_ms=r["p90_us"] / 1e3,
            p99_ms=r["p99_us"] / 1e3,
            max_ms=r["max_us"] / 1e3,
            non_2xx=int(r["non_2xx"]),
            connect=int(r["connect"]),
            read=int(r["read"]),
            write=int(r["write"]),
            timeout=int(r["timeout"]),
            cpu_s=cpu_s,
        )


# --- the benchmark --------------------------------------------------------------


def first_time_template(new_account: bool) -> str:
    """A request body whose refs contain ``__REF__``; JSON-safe once replaced."""
    rev_info: dict[str, Any] = {
        "user_ref": f"user-{REF}",
        "account_ref": f"acct-{REF}" if new_account else RETURNING_REV_INFO["account_ref"],
        "workspace_ref": f"ws-{REF}" if new_account else RETURNING_REV_INFO["workspace_ref"],
        "user_traits": {
            "email": f"{REF}@devrev.ai",
            "display_name": f"Bench User {REF}",
            "phone_numbers": ["+911122334455"],
        },
        "account_traits": (
            {"display_name": f"Bench Account {REF}", "domains": [f"{REF}.example.com"]}
            if new_account
            else RETURNING_REV_INFO["account_traits"]
        ),
    }
    return json.dumps({"rev_info": rev_info, "expires_in_mins": 60})


def measure(
    wrk: Wrk, report: Report, key: str, label: str, path: str, make_script: MakeScript
) -> WrkResult:
    """A short warm-up, then the measured run, each with its own script."""
    tag = uuid.uuid4().hex[:8]
    print(f"  {label}: warm-up {wrk.warmup} s ...", end="", flush=True)
    if wrk.warmup > 0:
        report.warmups[key] = wrk.run(label, path, make_script(f"w{tag}"), wrk.warmup)
    print(f" measuring {wrk.duration} s ...", end="", flush=True)
    result = wrk.run(label, path, make_script(f"m{tag}"), wrk.duration, cpu_pid=wrk.cpu_pid)
    report.runs[key] = result
    print(f" {result.rps:,.0f} req/s, server CPU {result.cpu_per_request_us:,.0f} µs/request")
    return result


def baseline_runner(exe: str, lua_dir: Path, args: argparse.Namespace) -> Callable[..., Rate]:
    """``Baselines.measure``'s runner: the same warm-up and wrk settings as
    every openplug figure, a run with errors refused."""
    script = lua_static("GET", None, None)

    def run(base: str, label: str, pid: int) -> Rate:
        wrk = Wrk(exe, base, lua_dir, args)
        if wrk.warmup > 0:
            wrk.run(label, "/health", script, wrk.warmup)
        r = wrk.run(label, "/health", script, wrk.duration, cpu_pid=pid)
        if not r.ok:
            raise BenchError(f"{label}: non-2xx {r.non_2xx}, socket errors {r.socket_errors}")
        return Rate(r.rps, r.cpu_per_request_us)

    return run


def verify_growth(
    report: Report, label: str, what: str, before: int, after: int, key: str, connections: int
) -> None:
    """Every completed 201 committed one new record; a request in flight when
    wrk stopped may have committed too (at most ``connections`` per wrk run)."""
    runs = [r for r in (report.warmups.get(key), report.runs[key]) if r is not None]
    completed = sum(r.requests for r in runs)
    slack = connections * len(runs)
    grew = after - before
    ok = completed <= grew <= completed + slack
    report.checks.append(
        Check(
            f"{label}: {what}",
            ok,
            f"{before:,} -> {after:,} (+{grew:,}); requests completed {completed:,} "
            f"(warm-up included), in flight at cut-off <= {slack}",
        )
    )


def settle(server: Server, pat: str) -> None:
    """Let requests wrk abandoned at cut-off finish before counting."""
    last = -1
    for _ in range(20):
        now = count_all(server.base, pat, "/rev-users.list", "rev_users")
        if now == last:
            return
        last = now
        time.sleep(0.5)


def run_benchmark(args: argparse.Namespace, tmp: Path) -> Suite:
    """The bare baselines, then each backend's runs, then the baselines
    again: the ratios divide by the mean of both baseline passes."""
    wrk_exe = ensure_wrk()
    lua_dir = tmp / "wrk"
    lua_dir.mkdir()
    suite = Suite(Baselines(tmp, free_port), load_before=os.getloadavg())
    runner = baseline_runner(wrk_exe, lua_dir, args)
    try:
        print("starting the bare Starlette and FastAPI baselines ...")
        suite.baselines.start()
        suite.baselines.measure(runner)
        for backend in args.backends:
            if backend == "postgres":
                with PostgresDatabase() as db:
                    suite.reports[backend] = run_backend(args, tmp, wrk_exe, lua_dir, db.url)
            else:
                suite.reports[backend] = run_backend(args, tmp, wrk_exe, lua_dir, None)
        suite.baselines.measure(runner)
    finally:
        suite.baselines.stop()
    suite.load_after = os.getloadavg()
    return suite


def run_backend(
    args: argparse.Namespace, tmp: Path, wrk_exe: str, lua_dir: Path, database_url: str | None
) -> Report:
    name = "postgres" if database_url else "sqlite"
    data_dir = tmp / f"data-{name}"
    server = Server(data_dir, tmp / f"server-{name}.log", database_url)
    report = Report(load_before=os.getloadavg())
    try:
        print(f"starting openplug serve ({name}) on {server.base} ...")
        server.start()
        assert server.proc is not None
        print(f"  server pid {server.proc.pid} answers /health")
        apps = server.cli("apps", "list")["apps"]
        if not apps:
            raise BenchError("openplug apps list returned no app")
        app_id = apps[0]["app_id"]
        aat = server.cli("tokens", "create", "--app", app_id, "--hint", "bench")["token"]
        pat = server.cli("pat", "create", "--hint", "bench")["token"]
        print(f"  app {app_id}; AAT and PAT created with the CLI")

        returning_body = {"rev_info": RETURNING_REV_INFO, "expires_in_mins": 60}
        for attempt in ("create", "returning"):
            status, data = http(
                server.base, "POST", "/auth-tokens.create", token=aat, body=returning_body
            )
            if status not in (200, 201) or "access_token" not in data:
                raise BenchError(f"auth-tokens.create ({attempt}) answered {status}: {data}")
        print("  returning user created (and identified once more, unchanged)")

        wrk = Wrk(wrk_exe, server.base, lua_dir, args)
        wrk.cpu_pid = server.proc.pid
        health = lua_static("GET", None, None)
        returning = lua_static("POST", json.dumps(returning_body), aat)
        print("running wrk:")
        measure(wrk, report, "base_before", "(0) baseline GET /health", "/health",
                lambda _p: health)  # fmt: skip
        measure(wrk, report, "a", "(a) returning user", "/auth-tokens.create",
                lambda _p: returning)  # fmt: skip

        for key, new_account in (("b1", False), ("b2", True)):
            template = first_time_template(new_account)
            label = (
                "(b2) new user+account+workspace"
                if new_account
                else "(b1) new user, existing acct+ws"
            )
            counts = {
                "rev users": ("/rev-users.list", "rev_users"),
                **(
                    {"accounts": ("/accounts.list", "accounts"),
                     "workspaces": ("/rev-orgs.list", "rev_orgs")}
                    if new_account
                    else {}
                ),
            }  # fmt: skip
            before = {w: count_all(server.base, pat, p, k) for w, (p, k) in counts.items()}

            def make(prefix: str, template: str = template) -> str:
                return lua_unique("/auth-tokens.create", template, aat, prefix)

            measure(wrk, report, key, label, "/auth-tokens.create", make)
            settle(server, pat)
            for what, (p, k) in counts.items():
                after = count_all(server.base, pat, p, k)
                verify_growth(report, key, what, before[what], after, key, args.connections)

        measure(wrk, report, "base_after", "(0) baseline GET /health", "/health",
                lambda _p: health)  # fmt: skip
        if server.proc.poll() is not None:
            raise BenchError(f"server died during the run:\n{server.log_tail()}")
        report.load_after = os.getloadavg()
    finally:
        server.stop()
    report.checks.append(
        Check(
            "server shut down",
            server.proc is not None and server.proc.returncode is not None,
            f"exit status {server.proc.returncode if server.proc else None}",
        )
    )
    return report


# --- the report -----------------------------------------------------------------


def git_revision() -> str:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "(not a git checkout)"


TARGETS = {
    # (run, backend) -> the least ratio to bare Starlette (issue 12)
    ("base", "sqlite"): TARGET_HEALTH, ("base", "postgres"): TARGET_HEALTH,
    ("a", "sqlite"): TARGET_RETURNING, ("a", "postgres"): TARGET_RETURNING_PG,
    ("b1", "sqlite"): TARGET_FIRST_TIME, ("b1", "postgres"): TARGET_FIRST_TIME,
    ("b2", "sqlite"): TARGET_FIRST_TIME, ("b2", "postgres"): TARGET_FIRST_TIME,
}  # fmt: skip


def print_report(args: argparse.Namespace, suite: Suite) -> bool:
    print()
    print("=" * 100)
    print("openplug identify benchmark")
    print(
        f"  machine  {os.cpu_count()} CPUs, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}"
    )
    print(f"  code     {ROOT} at {git_revision()}")
    print("  server   openplug serve, 1 process / 1 uvicorn worker, log level warning")
    print(
        f"  wrk      {args.threads} thread(s), {args.connections} connections, "
        f"{args.duration} s per run after a {args.warmup} s warm-up, timeout {WRK_TIMEOUT}"
    )
    lb, la = suite.load_before, suite.load_after
    busy = "  (CPU shared with other work: expect noise)" if lb[0] >= 0.5 else ""
    print(f"  load     1-min load average {lb[0]:.2f} at start, {la[0]:.2f} at end{busy}")
    print("baselines (same uvicorn options, measured before and after openplug's runs):")
    print("\n".join(suite.baselines.lines()))
    failed = False
    for backend, report in suite.reports.items():
        failed |= not print_backend(backend, report, suite.baselines)
    print("=" * 100)
    for key in ("a", "b1", "b2"):
        cpu = {b: r.runs[key].cpu_per_request_us for b, r in suite.reports.items()}
        label = next(iter(suite.reports.values())).runs[key].label
        line = cpu_ratio_line(label, cpu, TARGET_PG_CPU if key == "a" else None)
        if line is not None:
            print(line)
    print("=" * 100)
    return not failed


def print_backend(backend: str, report: Report, baselines: Baselines) -> bool:
    runs = report.runs
    before, after = runs["base_before"], runs["base_after"]
    base = (before.rps + after.rps) / 2
    spread = abs(before.rps - after.rps) / base * 100 if base else 0.0
    print("=" * 100)
    print(f"backend: {backend}")
    head = f"{'run':<36}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'requests':>10}"
    print(head + f"{'non-2xx':>9}{'sock err':>9}{'CPU µs/req':>12}")
    print("-" * 100)
    order = ["base_before", "a", "b1", "b2", "base_after"]
    suffix = {"base_before": " (before)", "base_after": " (after)"}
    for key in order:
        r = runs[key]
        print(
            f"{r.label + suffix.get(key, ''):<36}{r.rps:>10,.1f}{r.p50_ms:>9.2f}"
            f"{r.p99_ms:>9.2f}{r.requests:>10,}{r.non_2xx:>9}{r.socket_errors:>9}"
            f"{r.cpu_per_request_us:>12,.0f}"
        )
    print("-" * 100)
    print(
        f"{'(0) GET /health mean':<36}{base:>10,.1f}   "
        f"(before {before.rps:,.1f}, after {after.rps:,.1f}; spread {spread:.1f}% of mean)"
    )
    print("ratios (target: to bare Starlette):")
    for key in ("base", "a", "b1", "b2"):
        rps = base if key == "base" else runs[key].rps
        label = "(0) GET /health mean" if key == "base" else runs[key].label
        w = report.warmups.get(key)
        invalid = None
        if key != "base" and not (runs[key].ok and (w is None or w.ok)):
            invalid = "INVALID (errors: see checks)"
        cpu = (
            (before.cpu_per_request_us + after.cpu_per_request_us) / 2
            if key == "base"
            else (runs[key].cpu_per_request_us)
        )
        of_health = f"{rps / base:5.2f}x /health  " if key != "base" else " " * 15
        print(
            baselines.verdict_line(
                label, rps, TARGETS[(key, backend)], cpu_us=cpu, extra=of_health, invalid=invalid
            )
        )
    print("checks:")
    failed = False
    for key in order:
        r = runs[key]
        w = report.warmups.get(key)
        ok = r.ok and (w is None or w.ok)
        failed |= not ok
        print(
            f"  [{'ok' if ok else 'FAIL'}] wrk {r.label + suffix.get(key, '')}: "
            f"non-2xx {r.non_2xx}, socket errors {r.socket_errors}"
            + (f" (warm-up: non-2xx {w.non_2xx}, socket errors {w.socket_errors})" if w else "")
        )
    for c in report.checks:
        failed |= not c.ok
        print(f"  [{'ok' if c.ok else 'FAIL'}] {c.label}: {c.detail}")
    return not failed


# --- in process: CPU per request without sockets (--in-process) --------------------


async def asgi_post(app: Any, path: str, token: str, body: bytes) -> tuple[int, bytes]:
    """One request straight into the ASGI app, as uvicorn would hand it."""
    headers = [
        (b"host", b"127.0.0.1"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"authorization", token.encode()),
    ]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    delivered = False
    never: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await never  # the client never goes away mid-request here
        return {"type": "http.disconnect"}

    status, out = 0, []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(out)


async def in_process_backend(
    database_url: str | None, tmp: Path, args: argparse.Namespace
) -> dict[str, list[float]]:
    """CPU per request (µs) of each batch, per run: the app as ``openplug
    serve`` builds it (startup objects frozen out of the collector), one
    returning user at a time, first-time users 16 at a time (so that
    group commit has company, as under wrk)."""
    from openplug.app import create_app
    from openplug.settings import Settings

    name = "postgres" if database_url else "sqlite"
    settings = Settings(data_dir=tmp / f"inproc-{name}", database_url=database_url,
                        log_level="warning")  # fmt: skip
    first: list[Any] = []
    app = create_app(settings, on_first_start=lambda _rt, f: first.append(f),
                     freeze_startup_objects=True)  # fmt: skip
    results: dict[str, list[float]] = {}
    async with app.router.lifespan_context(app):
        aat = first[0].aat
        returning = json.dumps({"rev_info": RETURNING_REV_INFO, "expires_in_mins": 60}).encode()
        counter = itertools.count()
        prefix = uuid.uuid4().hex[:8]

        def body_for(run: str) -> bytes:
            if run == "a":
                return returning
            n = next(counter)
            info = dict(RETURNING_REV_INFO, user_ref=f"u-{prefix}-{n}")
            if run == "b2":
                info |= {"account_ref": f"a-{prefix}-{n}", "workspace_ref": f"w-{prefix}-{n}"}
            return json.dumps({"rev_info": info, "expires_in_mins": 60}).encode()

        async def batch(run: str, count: int) -> None:
            together = 1 if run == "a" else 16
            bodies = [body_for(run) for _ in range(count)]
            for start in range(0, count, together):
                answers = await asyncio.gather(
                    *(asgi_post(app, "/auth-tokens.create", aat, b)
                      for b in bodies[start : start + together])
                )  # fmt: skip
                for status, out in answers:
                    if status != 201:
                        raise BenchError(f"auth-tokens.create answered {status}: {out[:300]!r}")

        for run in ("a", "b1", "b2"):
            await batch(run, 100)  # warm: statements prepared, caches filled
            times = []
            for _ in range(args.batches):
                started = time.process_time()
                await batch(run, args.requests)
                times.append((time.process_time() - started) / args.requests * 1e6)
            results[run] = times
            if args.profile:
                profile = cProfile.Profile()
                profile.enable()
                await batch(run, args.requests)
                profile.disable()
                out = Path(args.profile) / f"{name}-{run}.prof"
                profile.dump_stats(out)
                print(f"  cProfile of {name} ({run}) in {out}")
    return results


def run_in_process(args: argparse.Namespace, tmp: Path) -> dict[str, dict[str, list[float]]]:
    suite: dict[str, dict[str, list[float]]] = {}
    for backend in args.backends:
        print(f"in process ({backend}): {args.batches} batches of {args.requests} ...")
        if backend == "postgres":
            with PostgresDatabase() as db:
                suite[backend] = asyncio.run(in_process_backend(db.url, tmp, args))
        else:
            suite[backend] = asyncio.run(in_process_backend(None, tmp, args))
    return suite


def print_in_process(args: argparse.Namespace, suite: dict[str, dict[str, list[float]]]) -> bool:
    load = os.getloadavg()
    print("=" * 100)
    print(f"openplug identify, CPU per request in process (no sockets); code at {git_revision()}")
    print(f"  best of {args.batches} batches of {args.requests}; 1-min load average {load[0]:.2f}")
    labels = {"a": "(a) returning user", "b1": "(b1) new user, existing acct+ws",
              "b2": "(b2) new user+account+workspace"}  # fmt: skip
    for run, label in labels.items():
        best = {b: min(r[run]) for b, r in suite.items()}
        cells = "  ".join(f"{b} {v:,.0f} µs" for b, v in best.items())
        ratio = (
            f"  PostgreSQL/SQLite {best['postgres'] / best['sqlite']:.2f}x"
            if {"sqlite", "postgres"} <= set(best)
            else ""
        )
        print(f"  {label:<34}{cells}{ratio}")
    print("=" * 100)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated: sqlite, postgres (a fresh database on OPENPLUG_BENCH_POSTGRES)",
    )
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="no server and no wrk: CPU per request with the app called in this process",
    )
    parser.add_argument("--batches", type=int, default=5, help="--in-process: batches per run")
    parser.add_argument("--requests", type=int, default=1000, help="--in-process: per batch")
    parser.add_argument("--profile", metavar="DIR", help="--in-process: cProfile files here")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if not args.backends or set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    if args.duration < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--duration must be >= 1, --warmup >= 0, --threads >= 1")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    if args.in_process:
        return run_and_report(args, "openplug-bench-", run_in_process, print_in_process, "data")
    return run_and_report(
        args,
        "openplug-bench-",
        run_benchmark,
        print_report,
        "data/, server.log, wrk/ scripts and outputs",
    )


def run_and_report(
    args: argparse.Namespace,
    tmp_prefix: str,
    run: Callable[[argparse.Namespace, Path], R],
    report: Callable[[argparse.Namespace, R], bool],
    kept_what: str,
) -> int:
    """What both benchmarks' ``main`` do around the measurement: a temporary
    data dir, clean stops on Ctrl-C/SIGTERM, and the exit status (1 when the
    run does not count)."""
    if not OPENPLUG.exists():
        print(f"error: {OPENPLUG} not found; install the project into .venv", file=sys.stderr)
        return 2

    def on_sigterm(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_sigterm)
    # Ctrl-C must stop the run cleanly even when started with SIGINT ignored
    # (as a background job of a non-interactive shell).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    tmp = Path(tempfile.mkdtemp(prefix=tmp_prefix))
    try:
        if not report(args, run(args, tmp)):
            print("FAILED: the run does not count (see the FAIL lines above).", file=sys.stderr)
            return 1
        return 0
    except BenchError as e:
        print(f"\nFAILED: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; server stopped.", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"kept {tmp} ({kept_what})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
