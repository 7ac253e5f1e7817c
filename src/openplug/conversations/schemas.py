"""Request bodies of the conversation calls: the agents' (DevRev's field
names) and the shared field types the widget's calls use too."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints

from openplug.artifacts.schemas import ArtifactIds, ArtifactSummary
from openplug.conversations.assignment import MAX_OWNERS
from openplug.conversations.service import MAX_BODY_CHARS, Status
from openplug.crm.fields import FROM_QUERY, ShortText, Strict
from openplug.crm.schemas import Date, Filter, Limit, Paging
from openplug.web.openapi import Answer


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


class ConversationsCreateRequest(Strict):
    type: Literal["support"] = "support"
    title: Title | None = None
    members: Annotated[list[ShortText], Field(min_length=1, max_length=50)]
    messages: Annotated[list[ConversationMessage], Field(max_length=20)] | None = None
    stage: Stage | None = None
    status: Status | None = None
    owned_by: DevUserIds | None = None


class OwnedByUpdate(Strict):
    """DevRev's ``conversations-update-request-owned-by``."""

    set: DevUserIds | None = Field(default=None, description="Replaces the owners; `[]` unassigns")


class ConversationsUpdateRequest(Strict):
    id: ShortText
    title: Title | None = None
    stage: Stage | None = None
    status: Status | None = None
    owned_by: OwnedByUpdate | None = None


class ConversationsListRequest(Paging):
    members: Filter | None = None
    status: Filter | None = None
    owned_by: Filter | None = Field(default=None, description="Owned by any of these dev users")
    is_unassigned: bool | None = Field(
        default=None,
        description="openplug's own: `true` only conversations nobody owns, "
        "`false` only owned ones",
    )


class ConversationsListQuery(ConversationsListRequest):
    model_config = FROM_QUERY


class ConversationsMarkReadRequest(Strict):
    id: ShortText
    seq: Seq | None = None


class TimelineEntriesCreateRequest(Strict):
    object: ShortText
    type: Literal["timeline_comment"] = "timeline_comment"
    body: MessageBody | None = Field(default=None, description="Required unless artifacts are")
    body_type: Literal["text"] = "text"
    artifacts: ArtifactIds | None = None


class TimelineEntriesListRequest(Strict):
    object: ShortText
    cursor: ShortText | None = None
    limit: Limit = 50


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
    created_by: RevUserRef | DevUserRef | SysUserRef | None = Field(
        description="null once the author is gone"
    )
    artifacts: list[ArtifactSummary] = Field(description="The files attached, in order")
    created_date: Date
    modified_date: Date
    seq: int = Field(description="Gapless and increasing within the conversation")


class StageView(Answer):
    name: Status


class Conversation(Answer):
    type: Literal["conversation"]
    id: str
    display_id: str
    title: str | None
    members: list[RevUserRef]
    owned_by: list[DevUserRef] = Field(description="The agents it is assigned to; [] unassigned")
    stage: StageView
    status: Status
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
    next_cursor: str | None


class TimelineEntryResponse(Answer):
    timeline_entry: TimelineEntry


class TimelineEntriesListResponse(Answer):
    timeline_entries: list[TimelineEntry]
    next_cursor: str | None
