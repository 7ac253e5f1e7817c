"""``artifacts.*`` over HTTP for agents (PAT or the inbox sign-in), and the
two URLs the calls hand out: where to upload (``artifacts.prepare``) and
where to download (``artifacts.locate``). The widget's equivalents are
beside its other calls (``widget.routes``); all share ``service``.

Downloads are served so that no browser runs or renders what was uploaded:
``X-Content-Type-Options: nosniff``, ``Content-Security-Policy: sandbox``
(a page opened anyway has no script, no forms, an opaque origin), and
``Content-Disposition: attachment`` for everything except the re-encoded
copies of images (``inline``/``thumb``), which are PNG, JPEG or WebP that
Pillow wrote. HTML and SVG are never inline (and not allowed by default).
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from openplug.artifacts import images, service
from openplug.artifacts.schemas import (
    ArtifactsGetQuery,
    ArtifactsGetRequest,
    ArtifactsGetResponse,
    ArtifactsLocateResponse,
    ArtifactsPrepareRequest,
    ArtifactsPrepareResponse,
    ArtifactUploadResponse,
)
from openplug.artifacts.service import Links, Party
from openplug.conversations.render import ConversationRenderer
from openplug.db.base import rfc3339
from openplug.errors import NotFound
from openplug.identity.principals import Principal
from openplug.runtime import Runtime
from openplug.web.deps import AgentDep, RuntimeDep
from openplug.web.openapi import answers

router = APIRouter()
Json = dict[str, Any]
_TAGS: list[Any] = ["artifacts"]
UPLOAD_PREFIX = "/artifacts/upload/"


def _agent(principal: Principal) -> Party:
    return Party("dev_user", principal.dev_user_id)


async def prepare_json(runtime: Runtime, party: Party, body: ArtifactsPrepareRequest) -> Json:
    return await service.prepare(
        runtime, party, file_name=body.file_name, file_type=body.file_type,
        file_size=body.file_size,
    )  # fmt: skip


async def get_json(runtime: Runtime, party: Party, id_value: str) -> Json:
    key = service.artifact_key(id_value)
    async with runtime.db.read() as conn:
        row = await service.readable_artifact(conn, key, party)
        renderer = ConversationRenderer(conn, runtime.org_id)
        if row["uploader_dev_user_id"] is not None:
            by = await renderer.user_summary("dev_user", int(row["uploader_dev_user_id"]))
        elif row["uploader_rev_user_id"] is not None:
            by = await renderer.user_summary("rev_user", int(row["uploader_rev_user_id"]))
        else:
            by = None
    return service.get_json(runtime.org_id, row, by)


async def locate_json(runtime: Runtime, party: Party, id_value: str) -> Json:
    key = service.artifact_key(id_value)
    async with runtime.db.read() as conn:
        row = await service.readable_artifact(conn, key, party)
    if row["state"] != "uploaded":
        # Nothing to download yet: as for one that does not exist.
        raise NotFound("artifact not found")
    located = Links(runtime).locate(key)
    return {"url": located.url, "expires_at": rfc3339(located.expires_at)}


@router.post("/artifacts.prepare", tags=_TAGS, **answers(ArtifactsPrepareResponse))
async def artifacts_prepare(
    runtime: RuntimeDep, principal: AgentDep, body: ArtifactsPrepareRequest
) -> Json:
    """Make an artifact and the URL to upload its file to (DevRev's flow)."""
    return await prepare_json(runtime, _agent(principal), body)


@router.get(
    "/artifacts.get", tags=_TAGS, operation_id="artifacts.get", **answers(ArtifactsGetResponse)
)
async def artifacts_get_query(
    runtime: RuntimeDep, principal: AgentDep, q: Annotated[ArtifactsGetQuery, Query()]
) -> Json:
    return await get_json(runtime, _agent(principal), q.id)


@router.post(
    "/artifacts.get", tags=_TAGS, operation_id="artifacts.get.post",
    **answers(ArtifactsGetResponse),
)  # fmt: skip
async def artifacts_get_body(
    runtime: RuntimeDep, principal: AgentDep, body: ArtifactsGetRequest
) -> Json:
    return await get_json(runtime, _agent(principal), body.id)


@router.get(
    "/artifacts.locate", tags=_TAGS, operation_id="artifacts.locate",
    **answers(ArtifactsLocateResponse),
)  # fmt: skip
async def artifacts_locate_query(
    runtime: RuntimeDep, principal: AgentDep, q: Annotated[ArtifactsGetQuery, Query()]
) -> Json:
    """A short-lived download URL (``OPENPLUG_ARTIFACT_URL_SECONDS``)."""
    return await locate_json(runtime, _agent(principal), q.id)


@router.post(
    "/artifacts.locate", tags=_TAGS, operation_id="artifacts.locate.post",
    **answers(ArtifactsLocateResponse),
)  # fmt: skip
async def artifacts_locate_body(
    runtime: RuntimeDep, principal: AgentDep, body: ArtifactsGetRequest
) -> Json:
    return await locate_json(runtime, _agent(principal), body.id)


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "artifact_id": {"type": "string", "description": "From form_data"},
                        "file": {"type": "string", "format": "binary"},
                    },
                    "required": ["file"],
                }
            }
        },
    }
}
_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file (streamed), with the safety headers",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.post(
    UPLOAD_PREFIX + "{token}", tags=_TAGS, operation_id="artifacts.upload",
    openapi_extra=_UPLOAD_BODY, **answers(ArtifactUploadResponse),
)  # fmt: skip
async def artifacts_upload(runtime: RuntimeDep, request: Request, token: str) -> Json:
    """The URL ``artifacts.prepare`` hands out: multipart/form-data with the
    ``form_data`` fields, then ``file``. The signed URL is the only
    credential (as with S3's POST policy); it works for one upload."""
    row = await service.receive_upload(
        runtime, token, request.headers.get("content-type", ""), request.stream()
    )
    return {"artifact": service.summary_json(runtime.org_id, row, Links(runtime))}


@router.get(
    "/artifacts/download/{token}", tags=_TAGS, operation_id="artifacts.download",
    response_class=StreamingResponse, responses=_DOWNLOAD,
)  # fmt: skip
async def artifacts_download(runtime: RuntimeDep, token: str) -> StreamingResponse:
    """The URL ``artifacts.locate`` hands out: the file, streamed."""
    download = await service.open_download(runtime, token)
    row = download.row
    content_type = str(row["content_type"] or "application/octet-stream")
    name = str(row["file_name"])
    headers = {
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cross-Origin-Resource-Policy": "same-site",
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
    }
    if download.variant != "original":
        shown_as = images.inline_type(content_type) or "application/octet-stream"
        headers["Content-Disposition"] = "inline"
        content_type = shown_as
    else:
        headers["Content-Length"] = str(int(row["size"]))
        headers["Content-Disposition"] = (
            f"attachment; filename=\"{_ascii_name(name)}\"; filename*=UTF-8''{quote(name)}"
        )
        if content_type in service.NEVER_INLINE or not content_type.isascii():
            content_type = "application/octet-stream"
    return StreamingResponse(download.chunks, media_type=content_type, headers=headers)


def _ascii_name(name: str) -> str:
    """The name for clients that read only ``filename=``: ASCII, no quotes."""
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in name)
