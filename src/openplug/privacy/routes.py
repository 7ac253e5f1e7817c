"""``rev-users.personal-data.export`` over HTTP (openplug's own call; DevRev
has none for one person). Admins only: it is everything about a person."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from openplug.artifacts.service import Links
from openplug.audit import record
from openplug.crm.schemas import GetRequest
from openplug.privacy.export import EXPORT_LINK_SECONDS, export_rev_user
from openplug.privacy.schemas import PersonalDataExport
from openplug.web.deps import ActorDep, AdminDep, RuntimeDep

router = APIRouter()


@router.post(
    "/rev-users.personal-data.export",
    tags=["rev-users"],
    response_class=Response,
    responses={200: {"model": PersonalDataExport, "description": "The person's data, as a file"}},
)
async def rev_users_personal_data_export(
    runtime: RuntimeDep, _: AdminDep, actor: ActorDep, body: GetRequest
) -> Response:
    # A write transaction: the export is itself recorded, with who asked.
    async with runtime.db.write() as conn:
        links = Links(runtime, EXPORT_LINK_SECONDS)
        data = await export_rev_user(conn, runtime.org_id, body.id, links)
        await record(conn, actor, "rev_user.personal_data_exported", data["rev_user"]["display_id"])
    name = data["rev_user"]["display_id"].lower()
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}-personal-data.json"'},
    )
