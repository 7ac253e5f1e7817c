"""CPU per request of the widget's hot calls, in process: the ASGI app
called directly (no sockets, no uvicorn, no wrk), the garbage collector
frozen and slowed as under ``openplug serve``, best of N batches. On a
shared machine this moves far less than bench/widget.py's throughput, so
it is how a change to one of these calls is judged; ``--profile`` prints
where the time goes (cProfile, the slowest batch's functions by own time
and by cumulative time).

The calls are bench/widget.py's, with the bare Starlette app of
bench/baseline.py measured in the same way for scale.

Usage: ``.venv/bin/python bench/widget_profile.py [--requests 300]
[--batches 5] [--profile session,list,post] [--only post] [--database-url URL]``
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from baseline import bare_app

from openplug.app import create_app
from openplug.bootstrap import FirstStart
from openplug.runtime import Runtime
from openplug.settings import Settings

Call = Callable[[], Awaitable[tuple[int, bytes]]]


def asgi_caller(app: Any, method: str, path: str, body: bytes, headers: dict[str, str]) -> Call:
    """One request to ``app`` as uvicorn would hand it over."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]

    async def call() -> tuple[int, bytes]:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": raw,
            "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000),
            "state": {},
        }  # fmt: skip
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await app(scope, receive, send)
        return status, b"".join(chunks)

    return call


async def best_of(call: Call, requests: int, batches: int) -> tuple[float, cProfile.Profile | None]:
    """Best CPU µs per request over ``batches`` of ``requests``."""
    best = float("inf")
    for _ in range(batches):
        start = time.process_time()
        for _ in range(requests):
            await call()
        best = min(best, (time.process_time() - start) / requests * 1e6)
    return best, None


async def profiled(call: Call, requests: int) -> str:
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(requests):
        await call()
    profile.disable()
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(60)
    return out.getvalue()


async def main_async(args: argparse.Namespace) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="openplug-widget-profile-"))
    settings = Settings(data_dir=data_dir, messages_per_visitor_per_minute=0)
    if args.database_url:
        settings.database_url = args.database_url
    firsts: list[FirstStart] = []

    def on_first(_runtime: Runtime, first: FirstStart) -> None:
        firsts.append(first)

    app = create_app(settings, on_first_start=on_first)
    async with app.router.lifespan_context(app):
        app_id = firsts[0].app.app_id
        json_h = {"content-type": "application/json"}

        async def post(path: str, body: dict[str, Any], token: str | None = None) -> Any:
            h = json_h | ({"authorization": token} if token else {})
            status, raw = await asgi_caller(app, "POST", path, json.dumps(body).encode(), h)()
            if status >= 400:
                raise SystemExit(f"{path} answered {status}: {raw!r}")
            return json.loads(raw)

        first = await post("/widget/session", {"app_id": app_id})
        credential, token = first["anonymous_credential"], first["session_token"]
        created = await post(
            "/widget/conversations.create", {"app_id": app_id, "body": "hello"}, token
        )
        conversation = created["conversation"]["id"]
        calls: dict[str, Call] = {
            "session": asgi_caller(app, "POST", "/widget/session", json.dumps(
                {"app_id": app_id, "anonymous_credential": credential}).encode(), json_h),
            "list": asgi_caller(app, "POST", "/widget/conversations.list", json.dumps(
                {"app_id": app_id}).encode(), json_h | {"authorization": token}),
            "post": asgi_caller(app, "POST", "/widget/messages.create", json.dumps(
                {"app_id": app_id, "conversation": conversation, "body": "a bench message"}
            ).encode(), json_h | {"authorization": token}),
        }  # fmt: skip
        bare = bare_app("starlette")
        calls["bare"] = asgi_caller(bare, "GET", "/health", b"", {})
        for call in calls.values():  # warm up, and check the answers
            status, raw = await call()
            if status >= 400:
                raise SystemExit(f"answered {status}: {raw!r}")
        gc.collect()
        gc.freeze()
        gc.set_threshold(10_000, 10, 10)
        for name, call in calls.items():
            if args.only and name not in args.only:
                continue
            us, _ = await best_of(call, args.requests, args.batches)
            print(f"{name:8} {us:8.0f} µs CPU/request (best of {args.batches} x {args.requests})")
        for name in args.profile:
            print(f"\n===== profile: {name}")
            print(await profiled(calls[name], args.requests))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--profile", default="")
    parser.add_argument("--database-url", default="")
    # Under a sampling profiler (py-spy record): only these calls' batches.
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    args.only = [p for p in args.only.split(",") if p]
    args.profile = [p for p in args.profile.split(",") if p]
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
