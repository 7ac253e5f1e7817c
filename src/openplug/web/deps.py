"""FastAPI dependencies: the runtime and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from openplug.identity.principals import Principal, authenticate, require_pat
from openplug.runtime import Runtime

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
    return await authenticate(runtime_of(request), authorization)


async def get_agent(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
    return require_pat(principal)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PrincipalDep = Annotated[Principal, Depends(get_principal)]
AgentDep = Annotated[Principal, Depends(get_agent)]
