"""A Starlette (FastAPI) WebSocket as a ``SocketTransport``.

```python
async def widget_socket(websocket: WebSocket) -> None:
    await serve_socket(websocket, broker, authenticate)

app.add_middleware(SocketEndpoints, endpoints={"/widget/socket": widget_socket})
```

``SocketEndpoints`` hands those paths' WebSocket connections to their
endpoint ahead of the rest of the middleware and the routing. A socket's
ASGI call stays suspended for as long as it is open, and with a FastAPI
``@router.websocket`` route each frame of that stack (middleware, routers,
dependency solving, exception wrappers: about 65 GC-tracked objects) stays
alive with it, which thousands of idle sockets pay for in memory and in
every full garbage collection. A ``@router.websocket`` route works too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from openplug.realtime.broker import Broker
from openplug.realtime.socket_session import (
    Authenticate,
    BinaryFrame,
    SessionEnd,
    SessionLimits,
    SocketSession,
)


class StarletteTransport:
    """Text frames in and out; a binary frame raises ``BinaryFrame`` (the
    session closes with 1003: the protocol is JSON text)."""

    __slots__ = ("_gone", "_websocket")

    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket
        self._gone = False

    async def receive_text(self) -> str | None:
        if self._gone:
            return None
        try:
            message = await self._websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            # RuntimeError: Starlette refuses to receive once the socket closed.
            self._gone = True
            return None
        if message["type"] == "websocket.disconnect":
            self._gone = True
            return None
        text = message.get("text")
        if text is None:
            raise BinaryFrame
        return str(text)

    async def send_text(self, text: str) -> None:
        await self._websocket.send_text(text)

    async def close(self, code: int, reason: str) -> None:
        # A close reason is at most 123 bytes on the wire.
        await self._websocket.close(code, reason.encode()[:123].decode(errors="ignore"))


async def serve_socket(
    websocket: WebSocket,
    broker: Broker,
    authenticate: Authenticate,
    *,
    limits: SessionLimits | None = None,
) -> SessionEnd:
    """Accept the connection and run one ``SocketSession`` on it until it ends."""
    await websocket.accept()
    session = SocketSession(StarletteTransport(websocket), broker, authenticate, limits=limits)
    # The session drops ``authenticate`` once it has used it; so does this
    # frame, which stays alive as long as the socket.
    del authenticate
    return await session.run()


Endpoint = Callable[[WebSocket], Awaitable[None]]


class SocketEndpoints:
    """ASGI middleware: a WebSocket connection to one of ``endpoints``'
    paths (as the app's routes see them, without ``root_path``) goes to its
    endpoint directly; everything else to the wrapped app. Add it last
    (outermost of the app's own middleware): what it skips, it skips for
    the socket's whole life. ``websocket.app`` is set as for a route."""

    __slots__ = ("_app", "_endpoints")

    def __init__(self, app: ASGIApp, endpoints: Mapping[str, Endpoint]) -> None:
        self._app = app
        self._endpoints = dict(endpoints)

    # Not a coroutine: it returns the endpoint's (or the app's) awaitable,
    # so that it adds no frame of its own to the stack a socket keeps.
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "websocket":
            endpoint = self._endpoints.get(_route_path(scope))
            if endpoint is not None:
                return endpoint(WebSocket(scope, receive, send))
        return self._app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """``scope["path"]`` without the ``root_path`` prefix, as Starlette's
    router matches it."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path
