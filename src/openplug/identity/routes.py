"""``auth-tokens.*`` over HTTP: parse, authorise, call the service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError

from openplug.crm.identify import seen_params
from openplug.crm.rev_info import Identification, resolve_rev_info
from openplug.errors import ApiError, Forbidden, Unauthenticated
from openplug.identity import access_tokens as tokens
from openplug.identity.apps import get_app
from openplug.identity.principals import authenticate_aat_reading, bare_token, require_pat
from openplug.identity.schemas import (
    AAT_TYPE,
    PAT_TYPE,
    AuthTokenResponse,
    AuthTokensCreateRequest,
    AuthTokensCreateResponse,
    AuthTokensDeleteRequest,
    AuthTokensInfoResponse,
    AuthTokensListQuery,
    AuthTokensListRequest,
    AuthTokensListResponse,
    AuthTokensUpdateRequest,
    TokenIdQuery,
    TokenIdRequest,
)
from openplug.identity.token_service import (
    check_may_change,
    check_may_manage,
    create_session_token,
    create_token,
    parse_token_id,
    revoke_token,
    token_info,
    token_view,
)
from openplug.web.deps import (
    ActorDep,
    AgentDep,
    PrincipalDep,
    RuntimeDep,
    actor_of,
    principal_of,
    runtime_of,
)
from openplug.web.fast_routes import HandServedRoute
from openplug.web.openapi import Empty, answers, body_of
from openplug.web.validation import raise_validation_error

router = APIRouter(tags=["auth-tokens"])


async def auth_tokens_create(request: Request) -> Response:
    """Authenticated and parsed by hand, not by dependencies: this is the
    hottest endpoint (every page view of an identified visitor), and
    FastAPI's dependency solving and body handling cost more than the rest
    of the work. The body is validated straight from bytes by pydantic.

    The common call (an AAT and a well-formed ``rev_info``) reads the AAT
    and the visitor's CRM rows in one statement (``authenticate_aat_reading``);
    any other goes the general way, so every refusal is the one it would
    be anyway, a 401 before anything the body says."""
    runtime = runtime_of(request)
    authorization = request.headers.get("authorization")
    raw = await request.body()
    session = _session_request(authorization, raw)
    if session is not None:
        secret, body, ident, params = session
        principal, seen_row = await authenticate_aat_reading(runtime, secret, ident, params)
        result = await create_session_token(runtime, principal, body, read=(ident, seen_row))
    else:
        principal = await principal_of(request, authorization)
        try:
            body = AuthTokensCreateRequest.model_validate_json(raw)
        except ValidationError as e:
            raise_validation_error(e)
        result = await create_token(runtime, principal, body, actor=actor_of(principal, request))
    # The bytes JSONResponse would render from ``model_dump(exclude_none=True)``:
    # compact, keys in field order, nothing to escape in these values.
    return Response(
        result.model_dump_json(exclude_none=True), status_code=201, media_type="application/json"
    )


def _session_request(
    authorization: str | None, raw: bytes
) -> tuple[str, AuthTokensCreateRequest, Identification, dict[str, Any]] | None:
    """An AAT's request for a session token by ``rev_info`` that nothing in
    it refuses before the read: the secret, the body, what it identifies
    and the read's parameters. None for anything else (a refusal then
    comes from the general path, in its order)."""
    if authorization is None:
        return None
    try:
        secret = bare_token(authorization)
    except Unauthenticated:
        return None
    if tokens.token_kind_of(secret) != "aat":
        return None
    try:
        body = AuthTokensCreateRequest.model_validate_json(raw)
    except ValidationError:
        return None
    if (
        body.requested_token_type == AAT_TYPE
        or body.rev_info is None
        or body.subject_token is not None
    ):
        return None
    try:
        ident = resolve_rev_info(body.rev_info, "rev_info")
        return secret, body, ident, seen_params(ident)
    except ApiError:
        return None


router.add_api_route(
    "/auth-tokens.create",
    auth_tokens_create,
    methods=["POST"],
    status_code=201,
    response_model=AuthTokensCreateResponse,
    response_model_exclude_none=True,
    summary="Mint a session token (AAT + rev_info) or an AAT (PAT)",
    openapi_extra=body_of(AuthTokensCreateRequest),
    route_class_override=HandServedRoute,
)


@router.get(
    "/auth-tokens.info",
    operation_id="auth-tokens.info",
    summary="Who a token belongs to",
    **answers(AuthTokensInfoResponse),
)
@router.post(
    "/auth-tokens.info", operation_id="auth-tokens.info.post", **answers(AuthTokensInfoResponse)
)
async def auth_tokens_info(runtime: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    return await token_info(runtime, principal)


async def _list(
    runtime: RuntimeDep, agent: AgentDep, req: AuthTokensListRequest
) -> AuthTokensListResponse:
    kind: tokens.TokenKind = "pat" if req.requested_token_type == PAT_TYPE else "aat"
    async with runtime.db.read() as conn:
        app_pk = (await get_app(conn, req.client_id)).pk if req.client_id else None
        found = await tokens.list_tokens(
            conn,
            kind=kind,
            dev_user_id=agent.dev_user_id if kind == "pat" else None,
            app_pk=app_pk,
        )
    return AuthTokensListResponse(tokens=[token_view(runtime, t) for t in found])


@router.get("/auth-tokens.list", response_model=AuthTokensListResponse)
async def auth_tokens_list_get(
    runtime: RuntimeDep, agent: AgentDep, q: Annotated[AuthTokensListQuery, Query()]
) -> AuthTokensListResponse:
    return await _list(runtime, agent, q)


@router.post("/auth-tokens.list", response_model=AuthTokensListResponse)
async def auth_tokens_list_post(
    runtime: RuntimeDep, agent: AgentDep, body: AuthTokensListRequest
) -> AuthTokensListResponse:
    return await _list(runtime, agent, body)


async def _get(runtime: RuntimeDep, agent: AgentDep, token_id: str) -> AuthTokenResponse:
    async with runtime.db.read() as conn:
        token = await tokens.get_token(conn, parse_token_id(token_id))
    check_may_manage(agent, token)
    return AuthTokenResponse(token=token_view(runtime, token))


@router.get("/auth-tokens.get", response_model=AuthTokenResponse)
async def auth_tokens_get_get(
    runtime: RuntimeDep, agent: AgentDep, q: Annotated[TokenIdQuery, Query()]
) -> AuthTokenResponse:
    return await _get(runtime, agent, q.token_id)


@router.post("/auth-tokens.get", response_model=AuthTokenResponse)
async def auth_tokens_get_post(
    runtime: RuntimeDep, agent: AgentDep, body: TokenIdRequest
) -> AuthTokenResponse:
    return await _get(runtime, agent, body.token_id)


@router.post("/auth-tokens.update", response_model=AuthTokenResponse)
async def auth_tokens_update(
    runtime: RuntimeDep, agent: AgentDep, actor: ActorDep, body: AuthTokensUpdateRequest
) -> AuthTokenResponse:
    async with runtime.db.write() as conn:
        key = parse_token_id(body.token_id)
        await check_may_change(runtime, agent, await tokens.get_token(conn, key))
        token = await tokens.set_token_hint(conn, key, body.token_hint, actor=actor)
    return AuthTokenResponse(token=token_view(runtime, token))


@router.post("/auth-tokens.delete", summary="Revoke a PAT or AAT", **answers(Empty))
async def auth_tokens_delete(
    runtime: RuntimeDep, principal: PrincipalDep, actor: ActorDep, body: AuthTokensDeleteRequest
) -> dict[str, Any]:
    """Without ``token_id``, the token in the Authorization header revokes itself."""
    if body.token_id is None:
        if principal.access_token is None:
            raise Forbidden("a session token is ended by the widget, not revoked here")
        await revoke_token(runtime, principal.access_token.token_id, by=None, actor=actor)
    else:
        require_pat(principal)
        await revoke_token(runtime, parse_token_id(body.token_id), by=principal, actor=actor)
    return {}
