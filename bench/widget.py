"""Throughput of the widget's own hot calls against a real server, as ratios
to a bare Starlette and a bare FastAPI endpoint measured in the same run.

What a page with the widget calls most: (1) ``POST /widget/session`` with
the visitor's ``anonymous_credential`` (every page view of an anonymous
visitor renews its session token), (2) ``POST /widget/conversations.list``
(the widget opening), (3) ``POST /widget/messages.create`` (a visitor
typing). Each runs on one server process (``openplug serve``, SQLite by
default, ``--backends postgres`` for PostgreSQL), driven by wrk in its own
process, every request the same (one visitor, one conversation). Target
(issue 12): each at least 0.4x bare Starlette. The server's CPU per request
is printed too: it moves less than throughput when the machine is shared.

Usage: ``.venv/bin/python bench/widget.py [--duration 10] [--connections 32]
[--backends sqlite,postgres]``

Where the time went (issue 12)
------------------------------
Profiled in process with bench/widget_profile.py (the ASGI app called
directly, gc frozen, CPU per request, best of five batches of 200, SQLite;
the machine's 1-minute load was 7 to 15 from other work, so read the
ratios, each pair measured back to back).

Before: a renewal about 560-590 µs, conversations.list (one conversation)
9.7-10.5 ms, messages.create about 17 ms. A renewal was already read-only
(two point reads, the app and the credential, and a JWT signed), but more
than half its CPU was FastAPI's per-request machinery on the route
(dependency solving, body parsing, ``jsonable_encoder``). The list ran a
fixed six statements for a page (no query per row), and most of its time
was building them: SQLAlchemy constructs, cache keys and, for the recent
messages, a window-function subquery whose columns were re-derived on
every call (that one alone about a quarter of the request).

After: the three calls are served by hand (``web.fast_routes``, their
declarations kept for the document with ``documented_as``), and the list's
statements are built once with their keys as parameters. Renewal 244-277
µs, conversations.list 4.4-5.2 ms, messages.create 12-15 ms (its write
path is another change). What the list still spends, by part: the unread
counts about 1.1 ms (its statement's shape follows the page's
conversations, so it is still built per call), checking the session token
about 0.55 ms (the JWT decoded twice by PyJWT, two point reads), and each
of the five other statements 250-400 µs, mostly the hop to aiosqlite's
thread and SQLAlchemy's execution.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from baseline import Baselines, cpu_ratio_line
from identify import (
    LUA_DONE,
    TARGET_PG_CPU,
    BenchError,
    PostgresDatabase,
    Server,
    Wrk,
    WrkResult,
    baseline_runner,
    ensure_wrk,
    free_port,
    git_revision,
    http,
    lua_string,
    run_and_report,
)

TARGET = 0.4
CALLS = (
    ("session", "(1) anonymous session renewal", "/widget/session"),
    ("list", "(2) conversations.list", "/widget/conversations.list"),
    ("post", "(3) messages.create", "/widget/messages.create"),
)


@dataclass
class Suite:
    baselines: Baselines
    runs: dict[str, dict[str, WrkResult]] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)


def lua_widget(body: dict[str, object], token: str | None) -> str:
    """A JSON POST, with the visitor's session token when it has one."""
    headers = {"Content-Type": "application/json"} | ({"Authorization": token} if token else {})
    pairs = ", ".join(f"[ {lua_string(k)} ] = {lua_string(v)}" for k, v in headers.items())
    return (
        f'wrk.method = "POST"\nwrk.headers = {{{pairs}}}\n'
        f"wrk.body = {lua_string(json.dumps(body))}\n{LUA_DONE}"
    )


def run_backend(
    args: argparse.Namespace, tmp: Path, exe: str, lua_dir: Path, url: str | None
) -> dict[str, WrkResult]:
    name = "postgres" if url else "sqlite"
    server = Server(tmp / f"data-{name}", tmp / f"server-{name}.log", url)
    # One visitor posts thousands of messages a minute here: without this
    # the run measured the per-visitor limit's 429s (issue 12's first run).
    server.env["OPENPLUG_MESSAGES_PER_VISITOR_PER_MINUTE"] = "0"
    try:
        print(f"starting openplug serve ({name}) on {server.base} ...")
        server.start()
        assert server.proc is not None
        app_id = server.cli("apps", "list")["apps"][0]["app_id"]
        status, first = http(server.base, "POST", "/widget/session", body={"app_id": app_id})
        if status not in (200, 201) or "anonymous_credential" not in first:
            raise BenchError(f"widget/session answered {status}: {first}")
        credential, token = first["anonymous_credential"], first["session_token"]
        status, created = http(server.base, "POST", "/widget/conversations.create", token=token,
                               body={"app_id": app_id, "body": "hello"})  # fmt: skip
        if status != 201:
            raise BenchError(f"widget/conversations.create answered {status}: {created}")
        conversation = created["conversation"]["id"]
        bodies = {
            "session": ({"app_id": app_id, "anonymous_credential": credential}, None),
            "list": ({"app_id": app_id}, token),
            "post": ({"app_id": app_id, "conversation": conversation, "body": "a bench message"},
                     token),
        }  # fmt: skip
        wrk = Wrk(exe, server.base, lua_dir, args)
        out: dict[str, WrkResult] = {}
        for key, label, path in CALLS:
            body, auth = bodies[key]
            script = lua_widget(body, auth)
            print(f"  {label} ...", end="", flush=True)
            if args.warmup:
                wrk.run(label, path, script, args.warmup)
            r = out[key] = wrk.run(label, path, script, args.duration, cpu_pid=server.proc.pid)
            print(f" {r.rps:,.0f} req/s, server CPU {r.cpu_per_request_us:,.0f} µs/request")
        return out
    finally:
        server.stop()


def run(args: argparse.Namespace, tmp: Path) -> Suite:
    exe = ensure_wrk()
    lua_dir = tmp / "wrk"
    lua_dir.mkdir()
    suite = Suite(Baselines(tmp, free_port))
    runner = baseline_runner(exe, lua_dir, args)
    load_before = os.getloadavg()[0]
    try:
        print("starting the bare Starlette and FastAPI baselines ...")
        suite.baselines.start()
        suite.baselines.measure(runner)
        for backend in args.backends:
            if backend == "postgres":
                with PostgresDatabase() as db:
                    suite.runs[backend] = run_backend(args, tmp, exe, lua_dir, db.url)
            else:
                suite.runs[backend] = run_backend(args, tmp, exe, lua_dir, None)
        suite.baselines.measure(runner)
    finally:
        suite.baselines.stop()
    suite.load = (load_before, os.getloadavg()[0])
    return suite


def report(args: argparse.Namespace, suite: Suite) -> bool:
    print()
    print("=" * 100)
    print(f"openplug widget benchmark  (code {git_revision()}; 1-min load "
          f"{suite.load[0]:.2f} -> {suite.load[1]:.2f})")  # fmt: skip
    print(
        f"  wrk {args.threads} thread(s), {args.connections} connections, {args.duration} s per run"
    )
    print("\n".join(suite.baselines.lines()))
    ok = True
    for backend, runs in suite.runs.items():
        print(f"backend: {backend}")
        for key, label, _path in CALLS:
            r = runs[key]
            invalid = None
            if not r.ok:
                invalid = f"INVALID (non-2xx {r.non_2xx}, socket errors {r.socket_errors})"
                ok = False
            print(
                suite.baselines.verdict_line(
                    label, r.rps, TARGET, cpu_us=r.cpu_per_request_us, invalid=invalid
                )
            )
    for key, label, _path in CALLS:
        cpu = {b: runs[key].cpu_per_request_us for b, runs in suite.runs.items()}
        line = cpu_ratio_line(label, cpu, TARGET_PG_CPU)
        if line is not None:
            print(line)
    print("=" * 100)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--backends", default="sqlite")
    args = parser.parse_args()
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backends) - {"sqlite", "postgres"}:
        parser.error("--backends takes sqlite and/or postgres")
    return run_and_report(args, "openplug-widget-bench-", run, report, "data/, logs, wrk/")


if __name__ == "__main__":
    sys.exit(main())
