"""The yardstick every openplug bench is read against: a bare Starlette JSON
endpoint and a bare FastAPI JSON endpoint, each in its own uvicorn process
with the options ``openplug serve`` uses, measured by the same wrk in the
same run as the figures they divide.

Why: measured against openplug's own ``/health``, a layer that slows every
request (middleware, the framework's per-request machinery) slows the
yardstick too and never shows. Bare Starlette is what the server stack can
do on this machine at this moment; bare FastAPI shows what FastAPI's routing
and response handling alone cost on top of it.

Also: ``process_cpu_s(pid)`` (user + system CPU of a process, from
``/proc``) so a bench can print the server's own CPU time per request,
which, unlike throughput, does not move when another process takes a core.

Run alone (``.venv/bin/python bench/baseline.py``) it prints both baselines
twice, which shows how noisy the machine is right now. The other benches
import ``Baselines`` and call ``measure`` on it before and after their own
runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = ROOT / ".venv" / "bin" / "python"

# What ``openplug serve`` gives uvicorn (src/openplug/cli.py): kept equal so
# that the only difference between a baseline and openplug is the app.
UVICORN_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "access_log": False,
    "ws_max_size": 64 * 1024,
    "ws_per_message_deflate": False,
}
KINDS = ("starlette", "fastapi")
BODY = {"status": "ok"}


def bare_app(kind: str) -> Any:
    """One ``GET /health`` answering ``{"status": "ok"}``, nothing else."""
    if kind == "starlette":
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def health(_request: Request) -> JSONResponse:
            return JSONResponse(BODY)

        return Starlette(routes=[Route("/health", health)])
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def fastapi_health() -> dict[str, str]:
        return BODY

    return app


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (0.0 off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    # utime and stime are fields 14 and 15 of stat; 3..15 after the ")".
    return (int(fields[11]) + int(fields[12])) / ticks


class BareServer:
    """A bare app in its own uvicorn process on loopback."""

    def __init__(self, kind: str, port: int, log_path: Path) -> None:
        self.kind = kind
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, deadline_s: float = 30.0) -> None:
        import urllib.request

        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(PYTHON), str(Path(__file__)), "--serve", self.kind, "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=ROOT,
            )
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bare {self.kind} exited: {self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=1.0) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"bare {self.kind} did not answer within {deadline_s:.0f} s")

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@dataclass
class Rate:
    rps: float
    cpu_per_request_us: float


class Baselines:
    """Both bare servers, started once; ``measure`` runs wrk against each
    and keeps every result so a report can show the spread and the mean.

    ``run_wrk(base, label, pid) -> Rate``: the calling bench's own wrk
    runner (warm-up and checks included), so baselines and figures are
    measured identically."""

    def __init__(self, tmp: Path, free_port: Any) -> None:
        self.servers = {k: BareServer(k, free_port(), tmp / f"bare-{k}.log") for k in KINDS}
        self.results: dict[str, list[Rate]] = {k: [] for k in KINDS}

    def start(self) -> None:
        for server in self.servers.values():
            server.start()

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def measure(self, run_wrk: Any) -> None:
        for kind, server in self.servers.items():
            assert server.proc is not None
            rate: Rate = run_wrk(server.base, f"bare {kind} GET /health", server.proc.pid)
            self.results[kind].append(rate)

    def mean(self, kind: str) -> float:
        rates = self.results[kind]
        return sum(r.rps for r in rates) / len(rates) if rates else 0.0

    def lines(self) -> list[str]:
        out = []
        for kind in KINDS:
            runs = ", ".join(f"{r.rps:,.0f}" for r in self.results[kind])
            cpu = ", ".join(f"{r.cpu_per_request_us:.0f}" for r in self.results[kind])
            out.append(
                f"  bare {kind:<10} mean {self.mean(kind):>9,.0f} req/s  (runs {runs}; "
                f"server CPU/request {cpu} µs)"
            )
        return out

    def ratios(self, rps: float) -> str:
        s, f = self.mean("starlette"), self.mean("fastapi")
        return f"{rps / s if s else 0:5.2f}x Starlette  {rps / f if f else 0:5.2f}x FastAPI"

    def verdict_line(
        self,
        label: str,
        rps: float,
        target: float,
        *,
        cpu_us: float | None = None,
        extra: str = "",
        invalid: str | None = None,
    ) -> str:
        """One figure as every bench prints it: its rate, its ratios to both
        baselines, openplug's CPU per request, and PASS / BELOW TARGET
        against ``target`` (a ratio to bare Starlette), or ``invalid`` (why
        the run does not count)."""
        starlette = self.mean("starlette")
        ratio = rps / starlette if starlette else 0.0
        verdict = invalid or ("PASS" if ratio >= target else "BELOW TARGET")
        cpu = f"CPU {cpu_us:>6,.0f} µs/req  " if cpu_us is not None else ""
        return (
            f"  {label:<34}{rps:>10,.1f} req/s  {self.ratios(rps)}  {cpu}{extra}"
            f"(target >= {target:.1f}x Starlette)  {verdict}"
        )


def cpu_ratio_line(label: str, cpu_us: dict[str, float], target: float | None) -> str | None:
    """PostgreSQL's CPU per request over SQLite's for one call (issue 12:
    the scale-out mode should cost no more than ``target`` times the
    embedded one; None: no target); None unless both backends ran."""
    sqlite, postgres = cpu_us.get("sqlite"), cpu_us.get("postgres")
    if not sqlite or postgres is None:
        return None
    ratio = postgres / sqlite
    verdict = ""
    if target is not None:
        verdict = f" (target <= {target})  " + ("PASS" if ratio <= target else "ABOVE TARGET")
    return (
        f"  {label:<34}openplug CPU per request: PostgreSQL {postgres:,.0f} µs / SQLite "
        f"{sqlite:,.0f} µs = {ratio:.2f}x{verdict}"
    )


def serve(kind: str, port: int) -> None:
    import uvicorn

    uvicorn.run(bare_app(kind), host="127.0.0.1", port=port, **UVICORN_OPTIONS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    import tempfile

    sys.path.insert(0, str(Path(__file__).parent))
    import identify

    with tempfile.TemporaryDirectory(prefix="openplug-baseline-") as name:
        tmp = Path(name)
        lua = tmp / "wrk"
        lua.mkdir()
        baselines = Baselines(tmp, identify.free_port)
        try:
            baselines.start()
            for _ in range(2):
                baselines.measure(identify.baseline_runner(identify.ensure_wrk(), lua, args))
        finally:
            baselines.stop()
        print("\n".join(baselines.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
