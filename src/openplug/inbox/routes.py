"""The agents' inbox: its realtime socket (the pages come later)."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from openplug.conversations.sockets import agent_socket_auth
from openplug.realtime.starlette_transport import serve_socket
from openplug.web.deps import runtime_of

router = APIRouter(prefix="/inbox", tags=["inbox"])


@router.websocket("/socket")
async def inbox_socket(websocket: WebSocket) -> None:
    """Live events for an agent; the first frame is ``{"type": "auth",
    "token": <PAT>}`` (see ``openplug.realtime.socket_session``)."""
    runtime = runtime_of(websocket)
    await serve_socket(websocket, runtime.broker, agent_socket_auth(runtime))
