"""The rules of ``auth-tokens.*``: which credential may mint which token."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from openplug.audit import Actor
from openplug.crm.identify import identify
from openplug.crm.rev_info import Identification, RevInfo, resolve_rev_info
from openplug.db.base import rfc3339
from openplug.errors import Forbidden, InvalidField, InvalidId, MissingRequiredField, NotFound
from openplug.identity import access_tokens as tokens
from openplug.identity.apps import get_app, list_apps
from openplug.identity.principals import Principal, require_aat
from openplug.identity.roles import require_admin
from openplug.identity.schemas import (
    AAT_TYPE,
    AuthToken,
    AuthTokensCreateRequest,
    AuthTokensCreateResponse,
)
from openplug.identity.session_tokens import SESSION_DEFAULT_MINUTES, mint_session_token
from openplug.ids import DEV_USER, REV_USER, TOKEN, ascii_int, display_id, don
from openplug.realtime import announce_revoked
from openplug.runtime import Runtime
from openplug.web.text_guard import text_refusal
from openplug.web.validation import raise_validation_error


async def create_token(
    runtime: Runtime, principal: Principal, req: AuthTokensCreateRequest, *, actor: Actor
) -> AuthTokensCreateResponse:
    if req.requested_token_type == AAT_TYPE:
        return await create_aat(runtime, await require_admin(runtime, principal), req, actor=actor)
    if req.rev_info is None and req.subject_token is None:
        raise MissingRequiredField("rev_info", "rev_info (or subject_token) is required")
    return await create_session_token(runtime, require_aat(principal), req)


def _rev_info_of(req: AuthTokensCreateRequest) -> tuple[RevInfo, str]:
    if req.rev_info is not None:
        if req.subject_token is not None:
            raise InvalidField("subject_token", "send rev_info or subject_token, not both")
        return req.rev_info, "rev_info"
    if req.subject_token is None:
        raise MissingRequiredField("rev_info", "send rev_info (or subject_token)")
    if req.subject_token_type is None:
        raise MissingRequiredField(
            "subject_token_type", "subject_token_type is required with subject_token"
        )
    try:
        raw = json.loads(req.subject_token)
    except (ValueError, RecursionError):
        raise InvalidField(
            "subject_token", "must be the rev_info object as a JSON string"
        ) from None
    # A JSON document inside a JSON string: the request's text check saw only
    # the escaped text, so this one is checked here.
    if (refused := text_refusal(raw, ("subject_token",))) is not None:
        raise refused
    try:
        return RevInfo.model_validate(raw), "subject_token"
    except ValidationError as e:
        raise_validation_error(e, prefix=("subject_token",))


async def create_session_token(
    runtime: Runtime,
    principal: Principal,
    req: AuthTokensCreateRequest,
    *,
    read: tuple[Identification, Mapping[str, Any]] | None = None,
) -> AuthTokensCreateResponse:
    """``read``: the request's ``rev_info`` resolved and identify's read
    phase done already, with the AAT (``principals.authenticate_aat_reading``)."""
    seen_row = None
    if read is None:
        rev_info, path = _rev_info_of(req)
        ident = resolve_rev_info(rev_info, path)
    else:
        ident, seen_row = read
    aat = principal.access_token
    if aat is None or aat.app_id is None or aat.app_pk is None:
        # An AAT is always minted for an app; one without is a broken row.
        raise Forbidden("this AAT belongs to no app; create a new one for the app")
    await runtime.session_tokens_per_aat.admit(
        str(aat.pk), "this AAT minted too many session tokens this minute; try again shortly"
    )
    user = await identify(runtime.db, ident, aat.app_pk, runtime.crm_hooks, seen_row=seen_row)
    minutes = req.expires_in_mins or SESSION_DEFAULT_MINUTES
    if runtime.metrics is not None:
        runtime.metrics.tokens_minted.inc()
    token = mint_session_token(
        runtime.secrets,
        org_id=runtime.org_id,
        rev_user_key=user.key,
        rev_user_created_at=user.created_at,
        rev_user_don=don(runtime.org_id, REV_USER, user.key),
        app_id=aat.app_id,
        expires_in_mins=minutes,
        verified=True,
    )
    return AuthTokensCreateResponse(access_token=token, expires_in=minutes * 60)


async def create_aat(
    runtime: Runtime, principal: Principal, req: AuthTokensCreateRequest, *, actor: Actor
) -> AuthTokensCreateResponse:
    days = req.expires_in or tokens.AAT_DEFAULT_DAYS
    async with runtime.db.write() as conn:
        app_id = req.client_id or (req.aud[0] if req.aud else None)
        if app_id is None:
            apps = await list_apps(conn)
            if len(apps) != 1:
                raise MissingRequiredField("aud", "aud: name the app (its app_id) the AAT is for")
            app = apps[0]
        else:
            try:
                app = await get_app(conn, app_id)
            except NotFound:
                raise InvalidField("aud", f"no app has app_id {app_id}") from None
        secret, token = await tokens.issue_access_token(
            conn,
            runtime.secrets.token_pepper,
            kind="aat",
            dev_user_id=principal.dev_user_id,
            app_pk=app.pk,
            expires_in_days=days,
            token_hint=req.token_hint,
            actor=actor,
        )
    return AuthTokensCreateResponse(
        access_token=secret,
        expires_in=days * 86400,
        client_id=app.app_id,
        token_id=token_don(runtime, token),
    )


def token_don(runtime: Runtime, token: tokens.AccessToken) -> str:
    return don(runtime.org_id, TOKEN, token.token_id)


def token_view(runtime: Runtime, token: tokens.AccessToken) -> AuthToken:
    type_ = "urn:devrev:params:oauth:token-type:" + token.kind
    created = rfc3339(token.created_at)
    assert created is not None
    expires = rfc3339(token.expires_at)
    assert expires is not None
    return AuthToken(
        id=token_don(runtime, token),
        display_id=display_id(TOKEN, token.pk),
        token_id=token_don(runtime, token),
        requested_token_type=type_,
        **({"client_id": token.app_id} if token.app_id is not None else {}),
        subject=don(runtime.org_id, DEV_USER, token.dev_user_id),
        token_hint=token.token_hint,
        status=token.status,
        issued_at=created,
        created_date=created,
        expires_at=expires,
        last_used_at=rfc3339(token.last_used_at),
        revoked_at=rfc3339(token.revoked_at),
    )


def parse_token_id(value: str, field_name: str = "token_id") -> tokens.TokenRef:
    """Every form a token's id is printed in: the DON (``id``, ``token_id``),
    its bare key, or the ``display_id`` (``TOKEN-7``)."""
    if value.upper().startswith(f"{TOKEN.display_prefix}-"):
        pk = ascii_int(value[len(TOKEN.display_prefix) + 1 :])
        if pk is None or pk == 0:
            raise InvalidId(field_name, f"{value!r} is not a token id like TOKEN-7")
        return pk
    key = value.rsplit("/", 1)[-1] if value.startswith("don:") else value
    # Keys are hex (``access_tokens.issue_access_token``).
    if not key or any(c not in "0123456789abcdef" for c in key):
        raise InvalidId(field_name, f"{value!r} is not a token id (TOKEN-7, its DON or its key)")
    return key


async def token_info(runtime: Runtime, principal: Principal) -> dict[str, Any]:
    org = {"id": f"don:identity:openplug:devo/{runtime.org_id}", "display_id": runtime.org_id}
    if principal.session is not None:
        s = principal.session
        subject = don(runtime.org_id, REV_USER, s.rev_user_key)
        return {
            "organization": org,
            "user": {
                "type": "rev_user",
                "id": subject,
                "display_id": display_id(REV_USER, s.rev_user_key),
            },
            "token": {
                "type": "session",
                "subject": subject,
                "issuer": f"openplug:devo/{runtime.org_id}",
                "issued_at": int(s.issued_at.timestamp()),
                "expiry": int(s.expires_at.timestamp()),
                "client_id": s.app_id,
            },
        }
    t = principal.access_token
    assert t is not None
    subject = don(runtime.org_id, DEV_USER, t.dev_user_id)
    return {
        "organization": org,
        "user": {
            "type": "dev_user",
            "id": subject,
            "display_id": display_id(DEV_USER, t.dev_user_id),
        },
        "token": {
            "type": t.kind,
            "token_id": token_don(runtime, t),
            "subject": subject,
            "issuer": f"openplug:devo/{runtime.org_id}",
            "issued_at": int(t.created_at.timestamp()),
            "expiry": int(t.expires_at.timestamp()),
            "client_id": t.app_id,
        },
    }


async def check_may_change(
    runtime: Runtime, principal: Principal, token: tokens.AccessToken
) -> None:
    """Renaming or revoking: an AAT is the admins' (see ``roles``)."""
    check_may_manage(principal, token)
    if token.kind == "aat":
        await require_admin(runtime, principal)


async def revoke_token(
    runtime: Runtime, token_id: tokens.TokenRef, *, by: Principal | None, actor: Actor
) -> tokens.AccessToken:
    """Revoke a PAT, AAT or inbox sign-in; ``by`` must be allowed to (see
    ``check_may_change``), None for a token revoking itself or the operator
    (the CLI). Then the agent's open sockets on every process re-check
    their credential (``realtime.credentials``): those on this token close.
    Where the broker does not reach (the CLI without Redis), each server's
    periodic re-check closes them instead."""
    async with runtime.db.write() as conn:
        if by is not None:
            await check_may_change(runtime, by, await tokens.get_token(conn, token_id))
        revoked = await tokens.revoke_token(conn, token_id, actor=actor)
    await announce_revoked(runtime.broker, "dev_user", revoked.dev_user_id, "token revoked")
    return revoked


def check_may_manage(principal: Principal, token: tokens.AccessToken) -> None:
    """Any agent manages the org's AATs; a PAT (or inbox sign-in) only by
    its owner."""
    if token.kind != "aat" and token.dev_user_id != principal.dev_user_id:
        raise Forbidden("a PAT can only be managed by the agent who owns it")
