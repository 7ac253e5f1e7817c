"""``openplug serve`` as an operator runs it: a real process (its own
interpreter, settings from the environment), on a free loopback port."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import TLS

OPENPLUG = [str(Path(sys.executable).parent / "openplug")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deployment_env(
    data_dir: Path, database_url: str, redis_url: str, **more: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENPLUG_")}
    env.update(
        OPENPLUG_DATA_DIR=str(data_dir),
        OPENPLUG_DATABASE_URL=database_url,
        OPENPLUG_REDIS_URL=redis_url,
        OPENPLUG_LOG_LEVEL="warning",
        **more,
    )
    return env


def init(env: dict[str, str]) -> dict[str, Any]:
    """``openplug init --json``: the instance's credentials."""
    done = subprocess.run(
        [*OPENPLUG, "init", "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


@dataclass
class Served:
    """One ``openplug serve`` (with its workers, if any)."""

    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    app_id: str = ""
    log: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log: Path, deadline: float = 120) -> Served:
        """``deadline`` guards against a hang, generously: on a loaded 2-core
        machine two workers importing at once took more than a minute."""
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [*OPENPLUG, "serve", "--port", str(self.port), *self.args],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_for_health(self.base_url, deadline, self.process, log)
        return self

    def children(self) -> list[int]:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in path.read_text().split()]

    def terminate(self, deadline: float = 30) -> int:
        """SIGTERM, as an orchestrator stops it; its exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(deadline)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def wait_for_health(
    base_url: str, deadline: float, process: subprocess.Popen[bytes] | None, log: Path | None
) -> None:
    end = time.monotonic() + deadline
    with httpx.Client(timeout=2, verify=TLS) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"exited {process.returncode}: {log.read_text() if log else ''}")
            try:
                if client.get(f"{base_url}/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > end:
                raise RuntimeError(f"{base_url} did not answer: {log.read_text() if log else ''}")
            time.sleep(0.1)
