"""Request bodies of the conversation calls: the agents' (DevRev's field
names) and the shared field types the widget's calls use too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from openplug.artifacts.schemas import ArtifactIds, ArtifactSummary
from openplug.conversations.assignment import MAX_OWNERS
from openplug.conversations.service import MAX_BODY_CHARS, Status
from openplug.crm.fields import (
    FROM_QUERY,
    CustomFields,
    DateTimeText,
    LongText,
    ShortText,
    Strict,
    ignored,
)
from openplug.crm.schemas import Date, DateRange, Filter, Limit, Paging
from openplug.tags import refs as tag_refs
from openplug.web.openapi import Answer, omitted_when_none


def _message_body(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or only whitespace")
    return value


# NUL characters, which PostgreSQL text cannot hold, are refused for every
# field of every request by ``web.text_guard``.
# Stored and returned exactly as sent (no trimming, no HTML processing).
MessageBody = Annotated[
    str, StringConstraints(max_length=MAX_BODY_CHARS), AfterValidator(_message_body)
]
MAX_TAGS = 50
Title = Annotated[str, StringConstraints(min_length=1, max_length=255, strip_whitespace=True)]
Seq = Annotated[int, Field(ge=0, le=2**31 - 1)]
DevUserIds = Annotated[
    list[ShortText],
    Field(max_length=MAX_OWNERS, description="Dev user ids (`DEVU-1` or the DON)"),
]


class Stage(Strict):
    name: Status


class ConversationMessage(Strict):
    body: MessageBody | None = Field(default=None, description="Required unless artifacts are")
    body_type: Literal["text"] = "text"
    artifacts: ArtifactIds | None = None


class TagRef(Strict):
    """DevRev's ``set-tag-with-value``: ``id`` is a tag's DON or display id
    (``tags.*``), or any other text, kept as given as before ``tags.*``."""

    id: Annotated[
        str, StringConstraints(min_length=1, max_length=255), AfterValidator(tag_refs.canonical)
    ]
    value: ShortText | None = None


Tags = Annotated[list[TagRef], Field(max_length=MAX_TAGS)]
Anything = dict[str, Any] | None


class ConversationsCreateRequest(Strict):
    type: Literal["support"] = "support"
    title: Title | None = None
    description: LongText | None = None
    members: Annotated[list[ShortText], Field(min_length=1, max_length=50)]
    messages: Annotated[list[ConversationMessage], Field(max_length=20)] | None = None
    stage: Stage | None = None
    status: Status | None = Field(default=None, description="openplug's own: `stage.name`")
    owned_by: DevUserIds | None = None
    tags: Tags | None = None
    custom_fields: CustomFields | None = None
    brand: ShortText | None = ignored()
    channels: Filter | None = ignored()
    custom_schema_spec: Anything = ignored()
    group: ShortText | None = ignored()
    is_spam: bool | None = ignored()
    metadata: Anything = ignored()
    source_channel: ShortText | None = ignored()
    source_channel_v2: ShortText | None = ignored()


class OwnedByUpdate(Strict):
    """DevRev's ``conversations-update-request-owned-by``."""

    set: DevUserIds | None = Field(default=None, description="Replaces the owners; `[]` unassigns")


class MembersUpdate(Strict):
    """DevRev's ``conversations-update-request-members``."""

    set: Annotated[list[ShortText], Field(min_length=1, max_length=50)] = Field(
        description="Replaces the members (rev user ids)"
    )


class TagsUpdate(Strict):
    """DevRev's ``conversations-update-request-tags``: ``set`` replaces, then
    ``remove`` and ``add`` apply."""

    set: Tags | None = None
    add: Tags | None = None
    remove: Annotated[list[TagRef], Field(max_length=MAX_TAGS)] | None = None


class SetOfIds(Strict):
    set: Filter | None = None


class ConversationsUpdateRequest(Strict):
    id: ShortText
    title: Title | None = None
    description: LongText | None = None
    stage: Stage | None = None
    status: Status | None = Field(default=None, description="openplug's own: `stage.name`")
    owned_by: OwnedByUpdate | None = None
    members: MembersUpdate | None = None
    tags: TagsUpdate | None = None
    custom_fields: CustomFields | None = None
    applies_to_parts: SetOfIds | None = ignored()
    brand: ShortText | None = ignored()
    channels: SetOfIds | None = ignored()
    custom_schema_spec: Anything = ignored()
    group: ShortText | None = ignored()
    is_frozen: bool | None = ignored()
    is_spam: bool | None = ignored()
    metadata: Anything = ignored()
    source_channel_v2: ShortText | None = ignored()


class StageFilter(Strict):
    name: Filter | None = None


class ConversationsFilters(Paging):
    members: Filter | None = None
    status: Filter | None = Field(default=None, description="openplug's own: `stage.name`")
    state: Filter | None = Field(default=None, description="`open` or `closed` (resolved)")
    tags: Filter | None = Field(default=None, description="Tagged with any of these")
    rev_org: Filter | None = Field(default=None, description="A member is in any of these")
    rev_orgs: Filter | None = Field(default=None, description="Same as `rev_org`")
    applies_to_parts: Filter | None = ignored()
    brand: Filter | None = ignored()
    channels: Filter | None = ignored()
    group: Filter | None = ignored()
    is_creator_verified: bool | None = ignored()
    is_frozen: bool | None = ignored()
    is_spam: bool | None = ignored()
    source_channel: Filter | None = ignored()
    source_channel_v2: Filter | None = ignored()
    source_channels: Filter | None = ignored()
    owned_by: Filter | None = Field(default=None, description="Owned by any of these dev users")
    is_unassigned: bool | None = Field(
        default=None,
        description="openplug's own: `true` only conversations nobody owns, "
        "`false` only owned ones",
    )


class ConversationsListRequest(ConversationsFilters):
    stage: StageFilter | None = None
    modified_date: DateRange | None = None
    actual_close_date: Anything = ignored()
    sla_summary: Anything = ignored()
    tags_v2: list[dict[str, Any]] | None = ignored()


class ConversationsListQuery(ConversationsFilters):
    model_config = FROM_QUERY

    stage_name: Filter | None = Field(default=None, alias="stage.name")
    modified_after: DateTimeText | None = Field(default=None, alias="modified_date.after")
    modified_before: DateTimeText | None = Field(default=None, alias="modified_date.before")
    sla_summary_stage: Filter | None = Field(default=None, alias="sla_summary.stage")
    tags_v2_id: Filter | None = Field(default=None, alias="tags_v2.id")
    tags_v2_value: Filter | None = Field(default=None, alias="tags_v2.value")


class ConversationsMarkReadRequest(Strict):
    id: ShortText
    seq: Seq | None = None


Visibility = Literal["external", "internal", "private", "public"]


class TimelineEntriesCreateRequest(Strict):
    object: ShortText
    type: Literal["timeline_comment"] = "timeline_comment"
    body: MessageBody | None = Field(default=None, description="Required unless artifacts are")
    body_type: Literal["text"] = "text"
    artifacts: ArtifactIds | None = None
    visibility: Visibility | None = Field(
        default=None,
        description="`external` (the default) or `public`: the visitors see it; "
        "`internal`: a note, every agent sees it and no visitor ever does; "
        "`private`: only its author sees it",
    )
    expires_at: DateTimeText | None = ignored()
    private_to: Filter | None = ignored()
    snap_kit_body: Anything = ignored()


class TimelineEntriesUpdateRequest(Strict):
    """DevRev's ``timeline-entries-update-request`` for a comment: only the
    body changes here (files stay as they were sent)."""

    id: ShortText
    type: Literal["timeline_comment"]
    body: MessageBody | None = Field(default=None, description="The new text; absent: unchanged")
    body_type: Literal["text"] | None = None
    artifacts: Anything = ignored()
    snap_kit_body: Anything = ignored()


class TimelineEntryIdRequest(Strict):
    id: ShortText


class TimelineEntryIdQuery(TimelineEntryIdRequest):
    model_config = FROM_QUERY


class TimelineEntriesListRequest(Strict):
    object: ShortText
    cursor: ShortText | None = None
    limit: Limit = 50
    mode: Literal["after", "before"] | None = Field(
        default=None, description="`after` the cursor (older entries, the default) or `before` it"
    )
    visibility: Filter | None = Field(
        default=None,
        description="`external`, `internal`, `private`, `public`: only entries with exactly "
        "these visibilities (another agent's `private` entries never show)",
    )


class TimelineEntriesListQuery(TimelineEntriesListRequest):
    model_config = FROM_QUERY


# --- responses ------------------------------------------------------------------


class RevUserRef(Answer):
    type: Literal["rev_user"]
    id: str
    display_id: str
    display_name: str
    email: str | None
    is_verified: bool
    state: Literal["active", "merged"]


class DevUserRef(Answer):
    type: Literal["dev_user"]
    id: str
    display_id: str
    display_name: str
    email: str


class SysUserRef(Answer):
    """An app's team: the author of what openplug posts for it (the away message)."""

    type: Literal["sys_user"]
    id: str
    display_id: str
    display_name: str


class TimelineEntry(Answer):
    type: Literal["timeline_comment"]
    id: str
    object: str
    object_display_id: str
    object_type: Literal["conversation"]
    body: str
    body_type: Literal["text"]
    created_by: RevUserRef | DevUserRef | SysUserRef = omitted_when_none(
        "Absent once the author is gone"
    )
    artifacts: list[ArtifactSummary] = Field(description="The files attached, in order")
    created_date: Date
    modified_date: Date = Field(description="When its author last edited it, else created_date")
    seq: int = Field(
        description="Increasing within the conversation, with gaps: a deleted entry leaves "
        "its seq unused, and each edit and deletion takes one"
    )
    visibility: Visibility = Field(
        description="`external`/`public`: the visitors see it; `internal`: agents only; "
        "`private`: its author only"
    )


class StageView(Answer):
    name: Status


class TagSummary(Answer):
    id: str = Field(description="The tag's DON, or the free-form id as it was set")
    display_id: str = omitted_when_none("The tag's, when `id` names one")
    name: str = Field(description="The tag's name; a free-form id is its own name")


class TagWithValue(Answer):
    tag: TagSummary
    value: str = omitted_when_none()


class Conversation(Answer):
    type: Literal["conversation"]
    id: str
    display_id: str
    title: str | None
    members: list[RevUserRef]
    owned_by: list[DevUserRef] = Field(description="The agents it is assigned to; [] unassigned")
    stage: StageView
    status: Status
    description: str = omitted_when_none()
    tags: list[TagWithValue]
    custom_fields: dict[str, Any] = Field(description="As the agents set them")
    created_date: Date
    modified_date: Date
    last_message_date: Date | None
    last_seq: int
    unread_count: int = Field(description="For the calling agent")
    members_read_seq: int = Field(description="openplug's own: how far the visitors have read")
    messages: list[TimelineEntry] = Field(description="The latest ones, oldest first")


class ConversationResponse(Answer):
    conversation: Conversation


class ConversationsListResponse(Answer):
    conversations: list[Conversation]
    next_cursor: str = omitted_when_none("Pass back as `cursor` for the next page")
    prev_cursor: str = omitted_when_none("Pass back as `cursor` with `mode: before`")


class TimelineEntryResponse(Answer):
    timeline_entry: TimelineEntry


class TimelineEntriesListResponse(Answer):
    timeline_entries: list[TimelineEntry]
    next_cursor: str = omitted_when_none("Pass back as `cursor` for older entries")
    prev_cursor: str = omitted_when_none("Pass back as `cursor` with `mode: before`")
