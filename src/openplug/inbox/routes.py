"""The agents' inbox: sign-in and sign-out, who is signed in, and the
realtime socket. The pages themselves are in ``inbox.pages``; everything
else the inbox shows comes from the ordinary agent API, called with the
sign-in cookie (see ``identity.agent_sessions``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, WebSocket
from pydantic import Field

from openplug.conversations.sockets import agent_socket_auth
from openplug.crm.fields import Strict
from openplug.identity.agent_sessions import (
    COOKIE_NAME,
    SESSION_LIFETIME,
    is_same_origin,
    sign_in,
    sign_out,
)
from openplug.identity.dev_users import DevUser, get_dev_user
from openplug.ids import DEV_USER, display_id, don
from openplug.realtime import SocketPolicy
from openplug.realtime.starlette_transport import serve_socket
from openplug.runtime import Runtime
from openplug.web.client_address import client_address
from openplug.web.deps import AgentDep, RuntimeDep, runtime_of

router = APIRouter(prefix="/inbox", tags=["inbox"], include_in_schema=False)


class SignInRequest(Strict):
    email: Annotated[str, Field(min_length=1, max_length=254)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


def agent_view(runtime: Runtime, user: DevUser) -> dict[str, Any]:
    return {
        "type": "dev_user",
        "id": don(runtime.org_id, DEV_USER, user.pk),
        "display_id": display_id(DEV_USER, user.pk),
        "display_name": user.display_name,
        "email": user.email,
        "role": user.role,
        # Set with ``dev-users.self.update``; shown here so the inbox's
        # preferences control starts from the stored choice.
        "mail_notifications": user.mail_notifications,
    }


@router.post("/sign-in")
async def inbox_sign_in(
    runtime: RuntimeDep, request: Request, response: Response, body: SignInRequest
) -> dict[str, Any]:
    secret, user = await sign_in(runtime, body.email, body.password, client_address(request))
    response.set_cookie(
        COOKIE_NAME,
        secret,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return {"agent": agent_view(runtime, user)}


@router.post("/sign-out")
async def inbox_sign_out(runtime: RuntimeDep, request: Request, response: Response) -> Any:
    """Ends the sign-in for good (the token is revoked, not just forgotten)."""
    secret = request.cookies.get(COOKIE_NAME)
    if secret:
        await sign_out(runtime, secret, client_address(request))
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return {}


@router.get("/me")
async def inbox_me(runtime: RuntimeDep, agent: AgentDep) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        user = await get_dev_user(conn, agent.dev_user_id)
    return {"agent": agent_view(runtime, user)}


# Served by ``SocketEndpoints`` (see ``app.create_app``), not the router.
async def inbox_socket(websocket: WebSocket) -> None:
    """Live events for an agent. The first frame is ``{"type": "auth",
    "token": <PAT>}``, or just ``{"type": "auth"}`` from the inbox page,
    whose sign-in cookie is used when the page is this server's own (see
    ``openplug.realtime.socket_session``)."""
    runtime = runtime_of(websocket)
    check = agent_socket_auth(runtime)
    cookie = websocket.cookies.get(COOKIE_NAME)
    if not is_same_origin(websocket.headers.get("origin"), websocket.headers.get("host")):
        cookie = None

    async def with_cookie(frame: dict[str, Any]) -> SocketPolicy | None:
        if "token" not in frame and cookie is not None:
            frame = {**frame, "token": cookie}
        return await check(frame)

    await serve_socket(websocket, runtime.broker, with_cookie, limits=runtime.socket_limits)
