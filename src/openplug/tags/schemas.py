"""Requests and answers of ``tags.*``, in DevRev's shapes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from openplug.crm.fields import FROM_QUERY, LongText, ShortText, Strict
from openplug.crm.schemas import Date, Filter, Paging
from openplug.web.openapi import Answer, omitted_when_none

TagName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
AllowedValues = Annotated[list[ShortText], Field(max_length=100)]


class TagsCreateRequest(Strict):
    name: TagName = Field(description="Unique in the org: a second tag of this name is a 409")
    description: LongText | None = None
    allowed_values: AllowedValues = []


class TagsGetRequest(Strict):
    id: ShortText


class TagsGetQuery(TagsGetRequest):
    model_config = FROM_QUERY


class TagsListRequest(Paging):
    name: Filter | None = Field(default=None, description="Only tags of these names")
    sort_by: Filter | None = Field(
        default=None, description="`name`, `created_date` or `modified_date`, `:asc` or `:desc`"
    )


class TagsListQuery(TagsListRequest):
    model_config = FROM_QUERY


class TagsUpdateAllowedValues(Strict):
    set: AllowedValues | None = None


class TagsUpdateRequest(Strict):
    id: ShortText
    name: TagName | None = None
    description: LongText | None = None
    allowed_values: TagsUpdateAllowedValues | None = None


class Tag(Answer):
    id: str
    display_id: str
    name: str
    description: str = omitted_when_none()
    allowed_values: list[str]
    created_date: Date
    modified_date: Date


class TagResponse(Answer):
    tag: Tag


class TagsListResponse(Answer):
    tags: list[Tag]
    next_cursor: str = omitted_when_none()
    prev_cursor: str = omitted_when_none()
