"""A TCP proxy that injects the network's faults, for the tests in front of
Redis and PostgreSQL. It runs its own event loop in a thread, so that a
test blocked in a synchronous HTTP call never stalls the traffic of the
servers it is calling.

- ``forward`` (the start): bytes pass both ways.
- ``drop()``: what a NAT or load balancer does when it forgets a flow:
  every connection open now goes silent for good (bytes are swallowed, no
  FIN, no RST ever), while new connections pass.
- ``partition()``: nothing passes, old connections or new ones (a new one
  is accepted and then hears nothing), until ``heal()``; connections that
  were open stay silent for good, as after a long partition.
- ``cut()``: every open connection is reset at once (a restart of the
  server behind, seen from the client).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    silent: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._links: set[_Link] = set()
        self._partitioned = False
        self._server: asyncio.Server | None = None
        self.port = 0

    # --- control, from any thread ------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._call(self._start)
        return self

    def close(self) -> None:
        self._call(self._close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def drop(self) -> None:
        self._call(self._silence_all)

    def partition(self) -> None:
        def go() -> None:
            self._partitioned = True
            self._silence_all()

        self._call_sync(go)

    def heal(self) -> None:
        def go() -> None:
            self._partitioned = False

        self._call_sync(go)

    def cut(self) -> None:
        self._call_sync(self._reset_all)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # --- the proxy, on its loop ---------------------------------------------------------

    def _call(self, coro_fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            result = coro_fn()
            if asyncio.iscoroutine(result):
                return await result
            return result

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def _call_sync(self, fn: Callable[[], T]) -> T:
        result: T = self._call(fn)
        return result

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        self._reset_all()
        if self._server is not None:
            self._server.close()

    def _silence_all(self) -> None:
        for link in self._links:
            link.silent = True

    def _reset_all(self) -> None:
        for link in list(self._links):
            for writer in (link.client, link.upstream):
                if writer is not None:
                    _reset(writer)
            for task in link.tasks:
                task.cancel()
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = _Link(client=writer, silent=self._partitioned)
        self._links.add(link)
        if link.silent:
            # Accepted by the kernel, then nothing: swallow what comes.
            link.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while await reader.read(65536):
                    pass
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            _reset(writer)
            self._links.discard(link)
            return
        link.upstream = up_writer
        link.tasks = [
            asyncio.create_task(self._pump(link, reader, up_writer)),
            asyncio.create_task(self._pump(link, up_reader, writer)),
        ]

    async def _pump(
        self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            while data := await reader.read(65536):
                if link.silent:
                    continue
                writer.write(data)
                await writer.drain()
            if not link.silent:  # an orderly close passes as one
                writer.close()
                self._links.discard(link)
        except (OSError, asyncio.CancelledError):
            if not link.silent:
                _reset(writer)
                self._links.discard(link)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST, not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
