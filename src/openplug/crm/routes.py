"""Agents' CRM calls over HTTP (PAT only): ``rev-users.*``, ``accounts.*``,
``rev-orgs.*`` and ``schemas.custom.*``.

Each ``.get`` and ``.list`` answers GET with query parameters and POST with
a JSON body, as DevRev's API does.
"""

import json
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import String, cast, false, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm import records
from openplug.crm.changes import CrmChange, run_crm_hooks_async
from openplug.crm.custom_fields import (
    LEAF_TABLES,
    Fragment,
    SchemaSetRequest,
    get_fragment,
    list_fragments,
    set_schema_fragment,
)
from openplug.crm.fields import FROM_QUERY, ShortText, Strict, ignored
from openplug.crm.friendly_names import friendly_name
from openplug.crm.records import ACCOUNTS, REV_ORGS, REV_USERS, Leaf, Renderer
from openplug.crm.schemas import (
    AccountResponse,
    AccountsCreateRequest,
    AccountsListQuery,
    AccountsListRequest,
    AccountsListResponse,
    AccountsUpdateRequest,
    Filter,
    FragmentIdResponse,
    FragmentResponse,
    FragmentsListResponse,
    GetQuery,
    GetRequest,
    RevOrgGetQuery,
    RevOrgGetRequest,
    RevOrgResponse,
    RevOrgsCreateRequest,
    RevOrgsListQuery,
    RevOrgsListRequest,
    RevOrgsListResponse,
    RevOrgsUpdateRequest,
    RevUserResponse,
    RevUsersCreateRequest,
    RevUsersListQuery,
    RevUsersListRequest,
    RevUsersListResponse,
    RevUsersMergeRequest,
    RevUsersUpdateRequest,
)
from openplug.crm.tables import accounts, rev_orgs, rev_users
from openplug.crm.user_merge import merge_rev_users
from openplug.errors import InvalidField, InvalidId, NotFound
from openplug.ids import ACCOUNT, FRAGMENT, REV_ORG, REV_USER, don, parse_int_key
from openplug.privacy.erasure import erase_rev_user
from openplug.realtime import announce_revoked
from openplug.runtime import Runtime
from openplug.web.deps import ActorDep, AdminDep, AgentDep, RuntimeDep
from openplug.web.openapi import Empty, answers

router = APIRouter()

Json = dict[str, Any]
WhereFn = Callable[[Any], list[Any]]
ColumnsFn = Callable[[AsyncConnection, Any], Awaitable[dict[str, Any]]]


async def _render(
    conn: AsyncConnection, runtime: Runtime, leaf: Leaf, rows: list[Any]
) -> list[Json]:
    renderer = Renderer(conn, runtime.org_id)
    render: Callable[[list[Any]], Awaitable[list[Json]]] = {
        "rev_user": renderer.rev_users,
        "account": renderer.accounts,
        "rev_org": renderer.rev_orgs,
    }[leaf.name]
    return await render(rows)


def _register(
    path: str,
    leaf: Leaf,
    plural: str,
    list_model: type[BaseModel],
    query_model: type[BaseModel],
    update_model: type[BaseModel],
    one: type[BaseModel],
    many: type[BaseModel],
    where: WhereFn,
    columns: ColumnsFn,
    get_models: tuple[type[BaseModel], type[BaseModel]] = (GetRequest, GetQuery),
) -> None:
    tags: list[str | Enum] = [path]
    get_model, get_query_model = get_models

    async def get(runtime: Runtime, req: Any) -> Json:
        async with runtime.db.read() as conn:
            if req.id is not None:
                row = await records.get_row(conn, leaf, req.id)
            else:
                row = await records.get_by_account(conn, leaf, req.account)
            return {leaf.name: (await _render(conn, runtime, leaf, [row]))[0]}

    async def list_(runtime: Runtime, req: Any) -> Json:
        async with runtime.db.read() as conn:
            page = await records.list_rows(conn, leaf, where=where(req), req=req)
            return {plural: await _render(conn, runtime, leaf, page.rows), **page.cursors()}

    @router.get(f"/{path}.get", tags=tags, operation_id=f"{path}.get", **answers(one))
    async def get_query(
        runtime: RuntimeDep,
        _: AgentDep,
        q: Annotated[get_query_model, Query()],  # type: ignore[valid-type]
    ) -> Json:
        return await get(runtime, q)

    @router.post(f"/{path}.get", tags=tags, operation_id=f"{path}.get.post", **answers(one))
    async def get_body(runtime: RuntimeDep, _: AgentDep, body: get_model) -> Json:  # type: ignore[valid-type]
        return await get(runtime, body)

    @router.get(f"/{path}.list", tags=tags, operation_id=f"{path}.list", **answers(many))
    async def list_query(
        runtime: RuntimeDep,
        _: AgentDep,
        q: Annotated[query_model, Query()],  # type: ignore[valid-type]
    ) -> Json:
        return await list_(runtime, q)

    @router.post(f"/{path}.list", tags=tags, operation_id=f"{path}.list.post", **answers(many))
    async def list_body(runtime: RuntimeDep, _: AgentDep, body: list_model) -> Json:  # type: ignore[valid-type]
        return await list_(runtime, body)

    @router.post(f"/{path}.update", tags=tags, operation_id=f"{path}.update", **answers(one))
    async def update(runtime: RuntimeDep, _: AgentDep, body: update_model) -> Json:  # type: ignore[valid-type]
        async with runtime.db.write() as conn:
            sent = await columns(conn, body)
            before = await records.get_row(conn, leaf, body.id)  # type: ignore[attr-defined]
            row = await records.update_row(conn, leaf, body.id, sent)  # type: ignore[attr-defined]
            if row["modified_at"] != before["modified_at"]:
                change = CrmChange("updated", leaf.name, int(row["id"]))  # type: ignore[arg-type]
                await run_crm_hooks_async(runtime.crm_hooks, conn, [change])
            return {leaf.name: (await _render(conn, runtime, leaf, [row]))[0]}


# Accepted for DevRev's sake, meaning nothing here (README: Coming from DevRev).
_IGNORED = {"display_picture", "custom_schema_fragments", "custom_schema_spec", "owned_by",
            "environment"}  # fmt: skip


def _traits(body: BaseModel, *links: str) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True, exclude={"id", *links, *_IGNORED})


async def _rev_user_columns(conn: AsyncConnection, body: RevUsersUpdateRequest) -> dict[str, Any]:
    sent = _traits(body, "rev_org")
    if body.rev_org is not None:
        org = await _linked(conn, REV_ORGS, body.rev_org, "rev_org")
        sent.update(rev_org_id=org["id"], account_id=None)
    return sent


async def _rev_org_columns(conn: AsyncConnection, body: RevOrgsUpdateRequest) -> dict[str, Any]:
    sent = _traits(body, "account")
    if body.account is not None:
        sent["account_id"] = (await _linked(conn, ACCOUNTS, body.account, "account"))["id"]
    return sent


async def _account_columns(conn: AsyncConnection, body: AccountsUpdateRequest) -> dict[str, Any]:
    sent = _traits(body, "external_refs")
    if body.external_refs is not None:
        sent["external_ref"] = body.external_refs[0] if body.external_refs else None
    return sent


async def _linked(conn: AsyncConnection, leaf: Leaf, id_value: str, field: str) -> Any:
    try:
        return await records.get_row(conn, leaf, id_value, field)
    except NotFound:
        raise InvalidId(field, f"no {leaf.name} has id {id_value}") from None


def _json_list_has(column: Any, values: list[str]) -> Any:
    """A JSON list column holding any of ``values``, on both databases: the
    stored JSON text contains the value as a JSON string."""
    text = cast(column, String)
    # or_() of nothing is deprecated (and would match everything later):
    # an empty filter list matches nothing.
    return or_(false(), *(text.contains(json.dumps(v), autoescape=True) for v in values))


def _rev_users_where(req: RevUsersListRequest) -> list[Any]:
    where: list[Any] = []
    if (refs := records.split_filter(req.external_ref, req)) is not None:
        where.append(rev_users.c.external_ref.in_(refs))
    if (emails := records.split_filter(req.email, req)) is not None:
        where.append(rev_users.c.email.in_(emails))
    if (orgs := records.ids_filter(req.rev_org, REV_ORG, "rev_org", req)) is not None:
        where.append(rev_users.c.rev_org_id.in_(orgs))
    if req.is_verified is not None:
        where.append(rev_users.c.is_verified.is_(req.is_verified))
    if (phones := records.split_filter(req.phone_numbers, req)) is not None:
        where.append(_json_list_has(rev_users.c.phone_numbers, phones))
    return where


def _accounts_where(req: AccountsListRequest) -> list[Any]:
    where: list[Any] = []
    if (refs := records.split_filter(req.external_refs, req)) is not None:
        where.append(accounts.c.external_ref.in_(refs))
    if (names := records.split_filter(req.display_name, req)) is not None:
        where.append(accounts.c.display_name.in_(names))
    if (tiers := records.split_filter(req.tier, req)) is not None:
        where.append(accounts.c.tier.in_(tiers))
    if (sites := records.split_filter(req.websites, req)) is not None:
        where.append(_json_list_has(accounts.c.websites, sites))
    if req.stage is not None:
        where.append(false())
    return where


def _rev_orgs_where(req: RevOrgsListRequest) -> list[Any]:
    where: list[Any] = []
    if (refs := records.split_filter(req.external_ref, req)) is not None:
        where.append(rev_orgs.c.external_ref.in_(refs))
    if (names := records.split_filter(req.display_name, req)) is not None:
        where.append(rev_orgs.c.display_name.in_(names))
    if (accs := records.ids_filter(req.account, ACCOUNT, "account", req)) is not None:
        where.append(rev_orgs.c.account_id.in_(accs))
    return where


_register("rev-users", REV_USERS, "rev_users", RevUsersListRequest, RevUsersListQuery,
          RevUsersUpdateRequest, RevUserResponse, RevUsersListResponse,
          _rev_users_where, _rev_user_columns)  # fmt: skip
_register("accounts", ACCOUNTS, "accounts", AccountsListRequest, AccountsListQuery,
          AccountsUpdateRequest, AccountResponse, AccountsListResponse,
          _accounts_where, _account_columns)  # fmt: skip
_register("rev-orgs", REV_ORGS, "rev_orgs", RevOrgsListRequest, RevOrgsListQuery,
          RevOrgsUpdateRequest, RevOrgResponse, RevOrgsListResponse,
          _rev_orgs_where, _rev_org_columns, (RevOrgGetRequest, RevOrgGetQuery))  # fmt: skip


# --- *.create: records an agent or the site's backend makes with a PAT ------


async def _create(runtime: Runtime, leaf: Leaf, sent: dict[str, Any]) -> Json:
    async with runtime.db.write() as conn:
        row = await records.insert_row(conn, leaf, sent)
        change = CrmChange("created", leaf.name, int(row["id"]))  # type: ignore[arg-type]
        await run_crm_hooks_async(runtime.crm_hooks, conn, [change])
        return {leaf.name: (await _render(conn, runtime, leaf, [row]))[0]}


@router.post("/rev-users.create", tags=["rev-users"], **answers(RevUserResponse, 201))
async def rev_users_create(runtime: RuntimeDep, _: AgentDep, body: RevUsersCreateRequest) -> Json:
    """A verified rev user (no session yet: the site's backend mints one
    with ``auth-tokens.create`` and ``rev_info.user_ref`` = ``external_ref``)."""
    sent = _traits(body, "rev_org")
    sent.setdefault("display_name", body.email or body.external_ref or friendly_name())
    async with runtime.db.read() as conn:
        if body.rev_org is not None:
            sent["rev_org_id"] = (await _linked(conn, REV_ORGS, body.rev_org, "rev_org"))["id"]
    return await _create(runtime, REV_USERS, sent)


@router.post("/accounts.create", tags=["accounts"], **answers(AccountResponse, 201))
async def accounts_create(runtime: RuntimeDep, _: AgentDep, body: AccountsCreateRequest) -> Json:
    """``owned_by`` is accepted and ignored (openplug's accounts have no owners)."""
    sent = _traits(body, "external_refs")
    if body.external_refs:
        sent["external_ref"] = body.external_refs[0]
    return await _create(runtime, ACCOUNTS, sent)


@router.post("/rev-orgs.create", tags=["rev-orgs"], **answers(RevOrgResponse, 201))
async def rev_orgs_create(runtime: RuntimeDep, _: AgentDep, body: RevOrgsCreateRequest) -> Json:
    sent = _traits(body, "account")
    async with runtime.db.read() as conn:
        sent["account_id"] = (await _linked(conn, ACCOUNTS, body.account, "account"))["id"]
    return await _create(runtime, REV_ORGS, sent)


@router.post("/rev-users.merge", tags=["rev-users"], **answers(Empty))
async def rev_users_merge(
    runtime: RuntimeDep, _: AgentDep, actor: ActorDep, body: RevUsersMergeRequest
) -> Json:
    """The secondary user's conversations become the primary's; the
    secondary is merged (its sessions end). Done at once, where DevRev
    acknowledges and merges later; the same merge again changes nothing.
    An unverified user a page named is never merged with a verified one."""
    primary = parse_int_key(body.primary_user, REV_USER, "primary_user")
    secondary = parse_int_key(body.secondary_user, REV_USER, "secondary_user")
    await merge_rev_users(runtime, primary, secondary, actor=actor)
    return {}


@router.post("/rev-users.delete", tags=["rev-users"], **answers(Empty))
async def rev_users_delete(
    runtime: RuntimeDep, _: AgentDep, actor: ActorDep, body: GetRequest
) -> Json:
    """Erase the person: their profile, the anonymous identities merged into
    them, their conversations with nobody else, and what they wrote in
    shared ones (see ``privacy.erasure``)."""
    async with runtime.db.write() as conn:
        row = await records.get_row(conn, REV_USERS, body.id)
        erased = await erase_rev_user(conn, int(row["id"]), actor=actor)
        gone = [CrmChange("deleted", "rev_user", k) for k in erased.rev_user_keys]
        await run_crm_hooks_async(runtime.crm_hooks, conn, gone)
    for key in erased.rev_user_keys:
        await announce_revoked(runtime.broker, "rev_user", key, "user deleted")
    return {}


@router.post("/rev-users.revoke-sessions", tags=["rev-users"], **answers(Empty))
async def rev_users_revoke_sessions(
    runtime: RuntimeDep, _: AgentDep, actor: ActorDep, body: GetRequest
) -> Json:
    """Log the user out everywhere: session tokens issued until now stop
    working, and their open sockets close."""
    async with runtime.db.write() as conn:
        key = await records.revoke_sessions(conn, body.id, actor=actor)
    await announce_revoked(runtime.broker, "rev_user", key, "sessions revoked")
    return {}


# --- custom attributes ----------------------------------------------------------


def _fragment_view(runtime: Runtime, f: Fragment) -> Json:
    return {
        "id": don(runtime.org_id, FRAGMENT, f.leaf_type),
        "type": "tenant_fragment",
        "leaf_type": f.leaf_type,
        **({"description": f.description} if f.description is not None else {}),
        "fields": [
            {
                "name": d.name,
                "field_type": d.field_type,
                **({"base_type": d.base_type} if d.base_type else {}),
                **({"allowed_values": d.allowed_values} if d.allowed_values else {}),
                "is_required": d.is_required,
                "is_filterable": d.is_filterable,
                "is_pii": d.is_pii,
                "is_immutable": d.is_immutable,
                **({"ui": d.ui} if d.ui else {}),
                **d.options,
                **({"description": d.description} if d.description is not None else {}),
            }
            for d in f.fields
            if not d.is_deleted
        ],
        "deleted_fields": [d.name for d in f.fields if d.is_deleted],
    }


@router.post("/schemas.custom.set", tags=["schemas"], **answers(FragmentIdResponse, 201))
async def schemas_custom_set(runtime: RuntimeDep, _: AdminDep, body: SchemaSetRequest) -> Json:
    async with runtime.db.write() as conn:
        await set_schema_fragment(conn, body)
    return {"id": don(runtime.org_id, FRAGMENT, body.leaf_type)}


class FragmentGetRequest(Strict):
    id: ShortText | None = None
    leaf_type: ShortText | None = None


class FragmentGetQuery(FragmentGetRequest):
    model_config = FROM_QUERY


async def _fragment_get(runtime: Runtime, req: FragmentGetRequest) -> Json:
    leaf_type = req.leaf_type or (req.id or "").rsplit("/", 1)[-1]
    if leaf_type not in LEAF_TABLES:
        raise InvalidField("id", "give the fragment id (or leaf_type) of a custom schema")
    async with runtime.db.read() as conn:
        fragment = await get_fragment(conn, leaf_type)
    if fragment is None:
        raise NotFound(f"no custom schema for {leaf_type}")
    return {"fragment": _fragment_view(runtime, fragment)}


@router.get(
    "/schemas.custom.get",
    tags=["schemas"],
    operation_id="schemas.custom.get",
    **answers(FragmentResponse),
)
async def schemas_custom_get_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[FragmentGetQuery, Query()]
) -> Json:
    return await _fragment_get(runtime, q)


@router.post(
    "/schemas.custom.get",
    tags=["schemas"],
    operation_id="schemas.custom.get.post",
    **answers(FragmentResponse),
)
async def schemas_custom_get_body(
    runtime: RuntimeDep, _: AgentDep, body: FragmentGetRequest
) -> Json:
    return await _fragment_get(runtime, body)


class FragmentsListRequest(Strict):
    leaf_type: Filter | None = Field(default=None, description="Only these leaf types")
    types: Filter | None = Field(
        default=None, description="openplug has only `tenant_fragment`: other types match none"
    )
    cursor: ShortText | None = Field(
        default=None, description="Every fragment fits on the first page: past it, none"
    )
    limit: Annotated[int, Field(ge=1, le=100)] | None = None
    mode: Literal["after", "before"] | None = None
    app: Filter | None = ignored()
    deprecated: bool | None = ignored()
    is_deprecated: bool | None = ignored()
    is_custom_leaf_type: bool | None = ignored()
    prune: Filter | None = ignored()
    sort_by: Filter | None = ignored()
    subtype: Filter | None = ignored()


class FragmentsListQuery(FragmentsListRequest):
    model_config = FROM_QUERY


async def _fragments(runtime: Runtime, req: FragmentsListRequest) -> Json:
    leaf_types = records.split_filter(req.leaf_type, req)
    types = records.split_filter(req.types, req)
    async with runtime.db.read() as conn:
        fragments = await list_fragments(conn)
    if req.cursor is not None or (types is not None and "tenant_fragment" not in types):
        fragments = []
    chosen = [f for f in fragments if leaf_types is None or f.leaf_type in leaf_types]
    return {"result": [_fragment_view(runtime, f) for f in chosen][: req.limit]}


@router.get(
    "/schemas.custom.list",
    tags=["schemas"],
    operation_id="schemas.custom.list",
    **answers(FragmentsListResponse),
)
async def schemas_custom_list_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[FragmentsListQuery, Query()]
) -> Json:
    return await _fragments(runtime, q)


@router.post(
    "/schemas.custom.list",
    tags=["schemas"],
    operation_id="schemas.custom.list.post",
    **answers(FragmentsListResponse),
)
async def schemas_custom_list_body(
    runtime: RuntimeDep, _: AgentDep, body: FragmentsListRequest
) -> Json:
    return await _fragments(runtime, body)
