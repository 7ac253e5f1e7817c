"""A redis-server of the test's own, on a free port, that the test may stop
and start again (a Redis restart): nothing saved, nothing shared."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from tests.backends import missing_backend

START_DEADLINE_S = 20


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            missing_backend("redis-server is not installed")
        self._binary = str(binary)
        self._dir = directory
        self.port = _free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self._dir / "redis.log"

    def start(self) -> RedisServer:
        assert self._process is None
        self._process = subprocess.Popen(
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self._dir),
             "--logfile", str(self.log_path)],
        )  # fmt: skip
        deadline = time.monotonic() + START_DEADLINE_S
        probe = Redis(port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            while True:
                try:
                    if probe.ping():
                        return self
                except RedisError:
                    pass  # not listening yet
                if self._process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"redis-server did not start: {self._log_tail()}")
                # Either it exits (a failed start) or it gets a moment to bind.
                try:
                    self._process.wait(0.05)
                except subprocess.TimeoutExpired:
                    continue
        finally:
            probe.close()

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # if paused
            self._process.terminate()
            self._process.wait(20)
            self._process = None

    def pause(self) -> None:
        """Redis hangs: connections stay open, nothing is answered."""
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except FileNotFoundError:
            return ""
