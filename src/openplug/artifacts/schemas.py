"""Request and response bodies of ``artifacts.*``, in DevRev's field names
(``artifacts-prepare-request`` and the others in DevRev's OpenAPI), with
openplug's additions marked as such."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from openplug.artifacts.attach import MAX_ARTIFACTS_PER_MESSAGE
from openplug.crm.fields import FROM_QUERY, ShortText, Strict
from openplug.crm.schemas import Date
from openplug.web.openapi import Answer

ConfigurationSet = Literal[
    "article_media", "default", "email_media", "job_data", "marketplace_listing_icon",
    "marketplace_media", "org_logo", "plug_setting", "plug_setting_banner_card", "portal_css",
    "snap_in_functions_code", "snap_widget", "user_profile_picture", "work",
]  # fmt: skip
ArtifactIds = Annotated[
    list[ShortText],
    Field(
        max_length=MAX_ARTIFACTS_PER_MESSAGE,
        description="Ids of artifacts you uploaded (`ARTIFACT-1` or the DON), not yet attached",
    ),
]


class ArtifactsPrepareRequest(Strict):
    file_name: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    file_type: ShortText | None = Field(
        default=None, description="What you say it is; the server reads the bytes instead"
    )
    configuration_set: ConfigurationSet | None = None
    file_size: Annotated[int, Field(ge=0, le=2**40)] | None = Field(
        default=None,
        description="openplug's own: the size in bytes, refused at once when over the limit",
    )


class ArtifactsGetRequest(Strict):
    id: ShortText
    version: ShortText | None = None


class ArtifactsGetQuery(ArtifactsGetRequest):
    model_config = FROM_QUERY


class FormDataField(Answer):
    key: str
    value: str


class ArtifactsPrepareResponse(Answer):
    id: str
    url: str = Field(description="POST multipart/form-data here: every form_data field, then file")
    form_data: list[FormDataField]


class ArtifactFile(Answer):
    type: str = Field(description="Detected from the bytes once uploaded")
    name: str
    size: int


class ArtifactSummary(Answer):
    id: str
    display_id: str
    file: ArtifactFile
    width: int | None = Field(default=None, description="openplug's own: images only")
    height: int | None = Field(default=None, description="openplug's own: images only")
    url: str | None = Field(
        default=None, description="openplug's own: a short-lived download URL (artifacts.locate)"
    )
    url_expires_at: Date | None = Field(default=None, description="openplug's own")
    inline_url: str | None = Field(
        default=None,
        description="openplug's own: a re-encoded copy (no metadata) to show inline; images only",
    )
    thumbnail_url: str | None = Field(
        default=None, description="openplug's own: a small re-encoded copy; images only"
    )


class Artifact(Answer):
    id: str
    display_id: str
    created_by: dict[str, object] | None = None
    created_date: Date
    modified_date: Date
    file: ArtifactFile
    state: Literal["prepared", "uploaded", "attached"] = Field(description="openplug's own")
    width: int | None = None
    height: int | None = None


class ArtifactVersion(Answer):
    version: str
    timestamp: Date


class ArtifactsGetResponse(Answer):
    artifact: Artifact
    version: ArtifactVersion


class ArtifactsLocateResponse(Answer):
    url: str
    expires_at: Date


class ArtifactUploadResponse(Answer):
    """openplug's own (S3 answers 204): the stored artifact."""

    artifact: ArtifactSummary
