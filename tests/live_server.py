"""A real openplug server on a loopback port, in a background thread, with
its own data directory and database."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from openplug.app import create_app
from openplug.bootstrap import FirstStart
from openplug.runtime import Runtime
from openplug.settings import Settings
from tests.leaks.registry import REGISTRY, ObservedApp

# One TLS context for every test client. httpx builds one per client,
# loading certifi's CA bundle (about 120 ms of CPU on a loaded CI machine),
# and the tests make thousands of clients, for loopback http:// besides.
TLS = ssl.create_default_context()


@dataclass
class LiveServer:
    settings: Settings
    base_url: str = ""
    first: FirstStart | None = None
    runtime: Runtime | None = None
    # The application being served, e.g. to list its routes.
    app: FastAPI | None = None
    # A fuzzer's request bodies hold made-up "passwords" that it reuses in
    # other fields and URLs, where they are no credential: only passwords
    # the server hands out are registered then.
    fuzzed: bool = False
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    @property
    def pat(self) -> str:
        assert self.first is not None
        return self.first.pat

    @property
    def admin_password(self) -> str:
        assert self.first is not None
        return self.first.admin_password

    @property
    def aat(self) -> str:
        assert self.first is not None
        return self.first.aat

    @property
    def app_id(self) -> str:
        assert self.first is not None
        return self.first.app.app_id

    @property
    def database_url(self) -> str:
        return self.settings.resolved_database_url()

    def start(self) -> LiveServer:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        self.settings.port = port
        self.base_url = f"http://127.0.0.1:{port}"

        def on_first_start(runtime: Runtime, first: FirstStart) -> None:
            self.first = first
            REGISTRY.add("password", first.admin_password)
            REGISTRY.observe_text(f"{first.pat} {first.aat}")

        app = create_app(self.settings, on_first_start=on_first_start)
        self.app = app
        # As ``openplug serve`` runs it (see cli.serve), but logging is left
        # to the test session: every record, at every level, is captured
        # and searched for secrets (tests/leaks), and what pytest shows is
        # its ``log_level``. ObservedApp registers the secrets going by.
        config = uvicorn.Config(
            ObservedApp(app, request_passwords=not self.fuzzed),
            log_config=None, log_level=None, lifespan="on",
            ws_max_size=64 * 1024, ws_per_message_deflate=False,
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        # A generous deadline: on a loaded 2-core machine (CI runs a worker
        # per core, beside PostgreSQL and Chromium) a start can take a while.
        deadline = time.monotonic() + 120
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("openplug test server stopped while starting (see its log)")
            if time.monotonic() > deadline:
                raise RuntimeError("openplug test server did not start within 120 s")
            time.sleep(0.01)
        self.runtime = app.state.runtime
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": token} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, verify=TLS)

    def async_client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": token} if token else {}
        limits = httpx.Limits(max_connections=100)
        return httpx.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=60, limits=limits, verify=TLS
        )

    async def sql(self, statement: str, **params: Any) -> list[Any]:
        """Run SQL on the server's database, e.g. to set up an expired token."""
        engine = create_async_engine(self.database_url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement), params)
                return list(result.all()) if result.returns_rows else []
        finally:
            await engine.dispose()


def make_settings(data_dir: Path, database_url: str | None) -> Settings:
    return Settings(data_dir=data_dir, database_url=database_url, host="127.0.0.1", port=0)
