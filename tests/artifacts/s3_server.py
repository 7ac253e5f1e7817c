"""A real S3-compatible server on loopback for the S3 storage backend's
tests: SeaweedFS's S3 gateway (``weed``) where it is installed, otherwise
moto's standalone server (``moto_server``, from the dev extras), each a
separate process speaking S3 over HTTP. Skipped with the reason when
neither can run (a failure under OPENPLUG_TEST_REQUIRE_ALL=1)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from tests.backends import missing_backend

ACCESS_KEY = "openplugtest"
SECRET_KEY = "openplugtestsecret"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _candidates(port: int, workdir: Path) -> list[list[str]]:
    """SeaweedFS first (the S3 server the issue names), then moto."""
    found: list[list[str]] = []
    weed = shutil.which("weed")
    if weed is not None:
        config = workdir / "s3.json"
        identity = {
            "name": "test",
            "actions": ["Admin", "Read", "Write", "List"],
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        }
        config.write_text(json.dumps({"identities": [identity]}))
        found.append([weed, "server", "-dir", str(workdir), "-ip", "127.0.0.1", "-s3",
                      "-s3.port", str(port), "-s3.config", str(config),
                      "-master.port", str(_free_port()), "-volume.port", str(_free_port()),
                      "-filer.port", str(_free_port())])  # fmt: skip
    moto = Path(sys.executable).with_name("moto_server")
    if moto.exists():
        found.append([str(moto), "-H", "127.0.0.1", "-p", str(port)])
    return found


def _started(command: list[str], endpoint: str, log: IO[bytes]) -> subprocess.Popen[bytes] | None:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while True:
        try:
            # Any HTTP answer from the S3 port: the gateway is up.
            httpx.get(endpoint, timeout=2)
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                process.wait(timeout=30)
                return None
            time.sleep(0.1)  # polling a port that is not open yet


@contextmanager
def s3_server(workdir: Path) -> Iterator[str]:
    """The endpoint URL of a running S3-compatible server."""
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    tried = []
    with (workdir / "s3.log").open("wb") as log:
        for command in _candidates(port, workdir):
            process = _started(command, endpoint, log)
            if process is not None:
                try:
                    yield endpoint
                finally:
                    process.terminate()
                    process.wait(timeout=30)
                return
            tried.append(Path(command[0]).name)
    missing_backend(
        "no S3-compatible server could run (tried: "
        f"{', '.join(tried) or 'none found'}): install seaweedfs (weed) or moto[server]"
    )
