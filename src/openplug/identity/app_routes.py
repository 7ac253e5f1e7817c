"""``apps.*``: the websites that embed the widget (a PAT or the inbox's
settings page; any agent lists them, admins change them). openplug's own
calls; DevRev manages apps in its web app only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from openplug.availability import AvailabilityChange
from openplug.availability.schemas import AvailabilityFields
from openplug.crm.fields import ShortText, Strict
from openplug.identity.apps import app_json, create_app, list_apps, update_app
from openplug.identity.schemas import AppResponse, AppsListResponse
from openplug.web.deps import ActorDep, AdminDep, AgentDep, RuntimeDep
from openplug.web.openapi import answers

router = APIRouter(tags=["apps"])

Origins = Annotated[list[Annotated[str, Field(max_length=300)]], Field(max_length=50)]
AppName = Annotated[str, Field(min_length=1, max_length=255)]


class AppsCreateRequest(Strict):
    name: AppName
    allowed_origins: Origins = []
    require_identification: bool = False


class AppsUpdateRequest(AvailabilityFields):
    app_id: ShortText
    name: AppName | None = None
    allowed_origins: Origins | None = None
    require_identification: bool | None = None
    # Up to a day; 0 mails at once.
    mail_delay_seconds: Annotated[int, Field(ge=0, le=86400)] | None = None
    # "" clears it (mails then link to the first allowed origin).
    site_url: Annotated[str, Field(max_length=2048)] | None = None


@router.get("/apps.list", operation_id="apps.list", **answers(AppsListResponse))
@router.post("/apps.list", operation_id="apps.list.post", **answers(AppsListResponse))
async def apps_list(runtime: RuntimeDep, _: AgentDep) -> dict[str, Any]:
    async with runtime.db.read() as conn:
        return {"apps": [app_json(a) for a in await list_apps(conn)]}


@router.post("/apps.create", **answers(AppResponse, 201))
async def apps_create(
    runtime: RuntimeDep, _: AdminDep, actor: ActorDep, body: AppsCreateRequest
) -> dict[str, Any]:
    async with runtime.db.write() as conn:
        app = await create_app(
            conn, body.name, body.allowed_origins, body.require_identification, actor=actor
        )
    return {"app": app_json(app)}


@router.post("/apps.update", **answers(AppResponse))
async def apps_update(
    runtime: RuntimeDep, _: AdminDep, actor: ActorDep, body: AppsUpdateRequest
) -> dict[str, Any]:
    """Only the fields sent change; ``allowed_origins`` and ``office_hours``
    replace what was there."""
    async with runtime.db.write() as conn:
        app = await update_app(
            conn,
            body.app_id,
            name=body.name,
            origins=body.allowed_origins,
            require_identification=body.require_identification,
            mail_delay_seconds=body.mail_delay_seconds,
            site_url=body.site_url,
            availability=_availability_change(body),
            actor=actor,
        )
    return {"app": app_json(app)}


def _availability_change(body: AvailabilityFields) -> AvailabilityChange:
    hours = body.office_hours
    return AvailabilityChange(
        time_zone=body.time_zone,
        office_hours=None if hours is None else hours.model_dump(exclude_none=True, mode="json"),
        reply_time=body.reply_time,
        away_message=body.away_message,
    )
