"""``dev-users.*``: the agents of this deployment, in DevRev's names (a PAT
or the inbox's sign-in).

- ``dev-users.list``: every agent, for choosing whom to assign a
  conversation to. Any agent may list them.
- ``dev-users.self`` and ``dev-users.self.update``: the calling agent, with
  what only they choose: ``mail_notifications`` (openplug's own field; see
  ``dev_users.MailPreference``). DevRev's other self-update fields (names,
  job title...) are not kept by openplug and are refused as unknown.

Agents are made with the command line (``openplug agents create``), so
there is no ``dev-users.create`` here.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from openplug.crm import records
from openplug.crm.fields import FROM_QUERY, Strict
from openplug.crm.schemas import Date, Paging
from openplug.db.base import rfc3339
from openplug.identity.dev_users import (
    DevUser,
    MailPreference,
    get_dev_user,
    list_dev_users_page,
    set_mail_preference,
)
from openplug.identity.principals import Principal
from openplug.ids import DEV_USER, display_id, don
from openplug.runtime import Runtime
from openplug.web.deps import AgentDep, RuntimeDep
from openplug.web.openapi import Answer, answers

router = APIRouter(tags=["dev-users"])
Json = dict[str, Any]


class DevUsersListRequest(Paging):
    pass


class DevUsersListQuery(DevUsersListRequest):
    model_config = FROM_QUERY


class DevUsersSelfUpdateRequest(Strict):
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
    next_cursor: str | None


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


async def _list(runtime: Runtime, req: DevUsersListRequest) -> Json:
    after = records.decode_cursor(req.cursor) if req.cursor is not None else None
    async with runtime.db.read() as conn:
        users, last = await list_dev_users_page(conn, after_key=after, limit=req.limit)
    return {
        "dev_users": [dev_user_json(runtime.org_id, u) for u in users],
        "next_cursor": records.encode_cursor(last) if last is not None else None,
    }


@router.get("/dev-users.list", operation_id="dev-users.list", **answers(DevUsersListResponse))
async def dev_users_list_query(
    runtime: RuntimeDep, _: AgentDep, q: Annotated[DevUsersListQuery, Query()]
) -> Json:
    """Oldest first."""
    return await _list(runtime, q)


@router.post("/dev-users.list", operation_id="dev-users.list.post", **answers(DevUsersListResponse))
async def dev_users_list_body(runtime: RuntimeDep, _: AgentDep, body: DevUsersListRequest) -> Json:
    return await _list(runtime, body)


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
    """Only the fields sent change."""
    if body.mail_notifications is None:
        return await _self(runtime, principal)
    async with runtime.db.write() as conn:
        user = await set_mail_preference(conn, principal.dev_user_id, body.mail_notifications)
    return {"dev_user": self_json(runtime.org_id, user)}
