"""``dev-users.*``: the agents of this deployment, in DevRev's names (a PAT
or the inbox's sign-in).

- ``dev-users.list``: every agent, for choosing whom to assign a
  conversation to. Any agent may list them.
- ``dev-users.get``: one agent by id (DON or ``DEVU-n``), as ``.list``
  shows them; what only the agent chooses (role, mail) stays out.
- ``dev-users.self`` and ``dev-users.self.update``: the calling agent, with
  what only they choose: ``mail_notifications`` (openplug's own field; see
  ``dev_users.MailPreference``). DevRev's other self-update fields (names,
  job title...) are accepted; ``display_name`` is kept, the rest ignored.

Agents are made with the command line (``openplug agents create``), so
there is no ``dev-users.create`` here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from openplug.crm import records
from openplug.crm.fields import FROM_QUERY, Name, ShortText, Strict, ignored
from openplug.crm.schemas import (
    Date,
    Filter,
    GetQuery,
    GetRequest,
    Paging,
    Ranges,
    RangesQuery,
    date_ranges,
)
from openplug.db.base import rfc3339
from openplug.identity.dev_users import (
    DevUser,
    MailPreference,
    get_dev_user,
    list_dev_users_listing,
    set_display_name,
    set_mail_preference,
)
from openplug.identity.principals import Principal
from openplug.ids import DEV_USER, display_id, don, parse_int_key
from openplug.runtime import Runtime
from openplug.web.deps import AgentDep, RuntimeDep
from openplug.web.openapi import Answer, answers, omitted_when_none

router = APIRouter(tags=["dev-users"])
Json = dict[str, Any]


class DevUsersFilters(Paging):
    email: Filter | None = None
    state: Filter | None = Field(
        default=None, description="Every agent of openplug's is `active`: other states match none"
    )
    sort_by: Filter | None = Field(
        default=None,
        description="`created_date`, `modified_date` or `display_name`, `:asc` or `:desc`",
    )


class ExternalIdentity(Strict):
    id: ShortText | None = None
    issuer: ShortText | None = None


class DevUsersListRequest(DevUsersFilters, Ranges):
    external_identity: list[ExternalIdentity] | None = Field(
        default=None, description="openplug's agents have none: a filter matches none"
    )


class DevUsersListQuery(DevUsersFilters, RangesQuery):
    model_config = FROM_QUERY

    external_identity_id: Filter | None = Field(default=None, alias="external_identity.id")
    external_identity_issuer: ShortText | None = Field(
        default=None, alias="external_identity.issuer"
    )


class DevUsersSelfUpdateRequest(Strict):
    display_name: Name | None = None
    full_name: ShortText | None = ignored()
    job_title: ShortText | None = ignored()
    reports_to: ShortText | None = ignored()
    experience_start_date: ShortText | None = ignored()
    job_history: list[dict[str, Any]] | None = ignored()
    custom_fields: dict[str, Any] | None = ignored()
    custom_schema_spec: dict[str, Any] | None = ignored()
    mail_notifications: MailPreference | None = Field(
        default=None,
        description="openplug's own: which conversations you are mailed about while no inbox "
        "of yours is open: `all`, only `mine` (those you own) or `none`",
    )


class DevUserView(Answer):
    type: Literal["dev_user"]
    id: str
    display_id: str
    display_name: str
    email: str
    state: Literal["active"]
    created_date: Date


class DevUserSelf(DevUserView):
    role: Literal["admin", "agent"] = Field(description="openplug's own")
    mail_notifications: MailPreference = Field(description="openplug's own")


class DevUsersListResponse(Answer):
    dev_users: list[DevUserView]
    next_cursor: str = omitted_when_none("Pass back as `cursor` for the next page")
    prev_cursor: str = omitted_when_none("Pass back as `cursor` with `mode: before`")


class DevUserResponse(Answer):
    dev_user: DevUserView


class DevUserSelfResponse(Answer):
    dev_user: DevUserSelf


def dev_user_json(org_id: str, user: DevUser) -> Json:
    return {
        "type": "dev_user",
        "id": don(org_id, DEV_USER, user.pk),
        "display_id": display_id(DEV_USER, user.pk),
        "display_name": user.display_name,
        "email": user.email,
        "state": "active",
        "created_date": rfc3339(user.created_at),
    }


def self_json(org_id: str, user: DevUser) -> Json:
    return {
        **dev_user_json(org_id, user),
        "role": user.role,
        "mail_notifications": user.mail_notifications,
    }


async def _list(runtime: Runtime, req: DevUsersListRequest | DevUsersListQuery) -> Json:
    created, modified = date_ranges(req)
    bounds = [r for r in (created, modified) if r is not None]
    states = records.split_filter(req.state, req)
    if isinstance(req, DevUsersListQuery):
        identities = (req.external_identity_id, req.external_identity_issuer) != (None, None)
    else:
        identities = req.external_identity is not None
    async with runtime.db.read() as conn:
        users, page = await list_dev_users_listing(
            conn,
            emails=records.split_filter(req.email, req),
            created_after=max((r.after for r in bounds if r.after), default=None),
            created_before=min((r.before for r in bounds if r.before), default=None),
            match_none=identities or (states is not None and "active" not in states),
            sort_by=records.split_filter(req.sort_by, req),
            cursor=req.cursor,
            mode=req.mode,
            limit=req.limit,
        )
    return {"dev_users": [dev_user_json(runtime.org_id, u) for u in users], **page.cursors()}


@router.get("/dev-users.list", operation_id="dev-users.list", **answers(DevUsersListResponse))
async def dev_users_list_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[DevUsersListQuery, Query()]
) -> Json:
    """Oldest first."""
    return await _list(runtime, q)


@router.post("/dev-users.list", operation_id="dev-users.list.post", **answers(DevUsersListResponse))
async def dev_users_list_body(runtime: RuntimeDep, _: AgentDep, body: DevUsersListRequest) -> Json:
    return await _list(runtime, body)


async def _get(runtime: Runtime, id_value: str) -> Json:
    key = parse_int_key(id_value, DEV_USER, "id")
    async with runtime.db.read() as conn:
        user = await get_dev_user(conn, key)
    return {"dev_user": dev_user_json(runtime.org_id, user)}


@router.get("/dev-users.get", operation_id="dev-users.get", **answers(DevUserResponse))
async def dev_users_get_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[GetQuery, Query()]
) -> Json:
    return await _get(runtime, q.id)


@router.post("/dev-users.get", operation_id="dev-users.get.post", **answers(DevUserResponse))
async def dev_users_get_body(runtime: RuntimeDep, _: AgentDep, body: GetRequest) -> Json:
    return await _get(runtime, body.id)


async def _self(runtime: Runtime, principal: Principal) -> Json:
    async with runtime.db.read() as conn:
        user = await get_dev_user(conn, principal.dev_user_id)
    return {"dev_user": self_json(runtime.org_id, user)}


@router.get("/dev-users.self", operation_id="dev-users.self", **answers(DevUserSelfResponse))
@router.post("/dev-users.self", operation_id="dev-users.self.post", **answers(DevUserSelfResponse))
async def dev_users_self(runtime: RuntimeDep, principal: AgentDep) -> Json:
    return await _self(runtime, principal)


@router.post("/dev-users.self.update", **answers(DevUserSelfResponse))
async def dev_users_self_update(
    runtime: RuntimeDep, principal: AgentDep, body: DevUsersSelfUpdateRequest
) -> Json:
    """Only the fields sent change; DevRev's fields openplug does not keep
    (job title, ...) are accepted and ignored."""
    if body.mail_notifications is None and body.display_name is None:
        return await _self(runtime, principal)
    async with runtime.db.write() as conn:
        user = await get_dev_user(conn, principal.dev_user_id)
        if body.mail_notifications is not None:
            user = await set_mail_preference(conn, user.pk, body.mail_notifications)
        if body.display_name is not None and body.display_name != user.display_name:
            user = await set_display_name(conn, user.pk, body.display_name)
    return {"dev_user": self_json(runtime.org_id, user)}
