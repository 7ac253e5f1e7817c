"""A real ``openplug serve`` process that a test can SIGKILL and start again
on the same data, and the ``openplug`` CLI calls that provision it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.live_server import TLS

OPENPLUG = [sys.executable, "-c", "from openplug.cli import main; main()"]
START_DEADLINE_S = 120


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """``openplug serve`` over ``data_dir`` (and ``database_url`` when given,
    else the SQLite file in ``data_dir``), on a new port at every start."""

    data_dir: Path
    database_url: str | None = None
    base_url: str = ""
    starts: int = 0
    _process: asyncio.subprocess.Process | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "serve.log"

    @property
    def sql_url(self) -> str:
        """The database as SQLAlchemy reaches it, for the test's own SQL."""
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'openplug.db'}"

    def _env(self) -> dict[str, str]:
        env = {**os.environ, "OPENPLUG_DATA_DIR": str(self.data_dir)}
        env["OPENPLUG_DEMO"] = "false"
        env["OPENPLUG_LOG_LEVEL"] = "warning"
        env.pop("OPENPLUG_DATABASE_URL", None)
        if self.database_url is not None:
            env["OPENPLUG_DATABASE_URL"] = self.database_url
        return env

    async def cli(self, *args: str) -> dict[str, Any]:
        """Run ``openplug ARGS --json`` on this server's data; its JSON."""
        proc = await asyncio.create_subprocess_exec(
            *OPENPLUG, *args, "--json", env=self._env(),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(proc.communicate(), START_DEADLINE_S)
        assert proc.returncode == 0, f"openplug {' '.join(args)}: {err.decode()[-2000:]}"
        data: dict[str, Any] = json.loads(out)
        return data

    async def start(self) -> None:
        """Start the process and return once ``/health`` answers."""
        assert self._process is None, "already running"
        for _attempt in range(3):
            port = _free_port()
            self.base_url = f"http://127.0.0.1:{port}"
            with self.log_path.open("ab") as log:
                log.write(f"--- start {self.starts + 1} on port {port}\n".encode())
                log.flush()
                self._process = await asyncio.create_subprocess_exec(
                    *OPENPLUG, "serve", "--port", str(port), env=self._env(),
                    stdout=log, stderr=asyncio.subprocess.STDOUT,
                )  # fmt: skip
            if await self._healthy():
                self.starts += 1
                return
            self._process = None
            # The free port was taken by someone else meanwhile: try another.
            if "address already in use" not in self._log_tail():
                break
        raise AssertionError(f"openplug serve did not start:\n{self._log_tail()}")

    async def _healthy(self) -> bool:
        """Whether the server answered ``/health``; False if it exited first."""
        assert self._process is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_DEADLINE_S
        async with httpx.AsyncClient(verify=TLS, base_url=self.base_url, timeout=10) as client:
            while loop.time() < deadline:
                try:
                    if (await client.get("/health")).status_code == 200:
                        return True
                except httpx.TransportError:
                    pass  # not listening yet
                # Either the process ends (a failed start) or it is given a
                # moment to bind its port before the next probe.
                try:
                    await asyncio.wait_for(self._process.wait(), 0.05)
                except TimeoutError:
                    continue
                return False
        raise AssertionError(f"openplug serve not healthy after {START_DEADLINE_S}s")

    def kill(self) -> None:
        """SIGKILL, at once: callable from inside a response handler."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)

    async def wait_killed(self) -> None:
        assert self._process is not None
        returncode = await self._process.wait()
        self._process = None
        assert returncode == -signal.SIGKILL, f"server exited with {returncode}, not by SIGKILL"

    async def stop(self) -> None:
        if self._process is not None:
            if self._process.returncode is None:
                self.kill()
            await self._process.wait()
            self._process = None

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except FileNotFoundError:
            return ""
