"""A Starlette (FastAPI) WebSocket as a ``SocketTransport``.

```python
@router.websocket("/widget/socket")
async def widget_socket(websocket: WebSocket) -> None:
    await serve_socket(websocket, broker, authenticate)
```
"""

from __future__ import annotations

from starlette.websockets import WebSocket, WebSocketDisconnect

from openplug.realtime.broker import Broker
from openplug.realtime.socket_session import (
    Authenticate,
    SessionEnd,
    SessionLimits,
    SocketSession,
)


class StarletteTransport:
    """Text frames in and out; a binary frame is decoded as UTF-8 text so
    that the session answers it as any malformed frame."""

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
        if text is not None:
            return str(text)
        data = message.get("bytes") or b""
        return bytes(data).decode("utf-8", errors="replace")

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
    return await session.run()
