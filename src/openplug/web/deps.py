"""FastAPI dependencies: the runtime and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from openplug.audit import Actor
from openplug.identity.agent_sessions import COOKIE_NAME, CSRF_HEADER, cookie_credential
from openplug.identity.principals import Principal, authenticate, require_pat
from openplug.identity.roles import require_admin
from openplug.runtime import Runtime
from openplug.web.client_address import client_address

# Declared for the OpenAPI document; the value is parsed by `authenticate`,
# which accepts both the bare token and "Bearer <token>".
_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="A PAT, an AAT or a session token, bare or as `Bearer <token>`.",
)


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs plain ``def`` dependencies in a thread
    # pool, a thread hop on every request for an attribute read.
    return runtime_of(request)


def runtime_of(request: HTTPConnection) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def get_principal(
    request: Request, authorization: Annotated[str | None, Security(_authorization)]
) -> Principal:
    return await principal_of(request, authorization)


async def principal_of(request: Request, authorization: str | None) -> Principal:
    """The Authorization header's credential or, without one, the agent's
    inbox sign-in cookie (see ``agent_sessions`` for why the extra header)."""
    runtime = runtime_of(request)
    if authorization is None and COOKIE_NAME in request.cookies:
        secret = cookie_credential(request.cookies[COOKIE_NAME], request.headers.get(CSRF_HEADER))
        return await authenticate(runtime, secret)
    return await authenticate(runtime, authorization)


async def get_agent(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    return require_pat(principal)


async def get_admin(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Principal:
    return await require_admin(runtime_of(request), principal)


def actor_of(principal: Principal, connection: HTTPConnection) -> Actor:
    """Who the audit trail says acted: the agent behind a PAT or sign-in,
    the visitor behind a session token, the AAT's creator for an AAT."""
    if principal.session is not None:
        return Actor(
            "rev_user", principal.session.rev_user_key, "session", client_address(connection)
        )
    return Actor("dev_user", principal.dev_user_id, principal.kind, client_address(connection))


async def get_actor(
    request: Request, principal: Annotated[Principal, Depends(get_principal)]
) -> Actor:
    # (FastAPI solves get_principal once per request, however many ask.)
    return actor_of(principal, request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ActorDep = Annotated[Actor, Depends(get_actor)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AgentDep = Annotated[Principal, Depends(get_agent)]
AdminDep = Annotated[Principal, Depends(get_admin)]
