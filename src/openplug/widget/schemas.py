"""Request bodies of the widget's calls. Every call names its app; the
session token goes in ``Authorization``, never in a URL."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from openplug.artifacts.schemas import ArtifactIds, ArtifactSummary, ConfigurationSet
from openplug.availability.schemas import AvailabilityView
from openplug.conversations.schemas import MessageBody, Seq, Title
from openplug.conversations.service import Status
from openplug.crm.fields import (
    CustomFields,
    Email,
    Name,
    PhoneNumbers,
    Ref,
    ShortText,
    Strict,
    reject_null,
)
from openplug.crm.schemas import Date, Limit
from openplug.web.openapi import Answer, omitted_when_none

AppId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Credential = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class WidgetRequest(Strict):
    app_id: AppId


class SessionRequest(WidgetRequest):
    anonymous_credential: Credential | None = None


class MergeRequest(WidgetRequest):
    anonymous_credential: Credential


class IdentityTraits(Strict):
    """DevRev's ``user_traits`` of the ``identity`` init option and of
    ``updateIdentity``."""

    display_name: Name | None = None
    email: Email | None = None
    phone_numbers: PhoneNumbers | None = None
    custom_fields: CustomFields | None = None

    _not_null = reject_null("display_name", "phone_numbers")


class IdentifyRequest(WidgetRequest):
    """``plugSDK.init({identity: {user_ref, user_traits}})``: a visitor the
    page names without a session token, as an unverified user."""

    user_ref: Ref
    user_traits: IdentityTraits | None = None


class IdentityUpdateRequest(WidgetRequest):
    """``plugSDK.updateIdentity({user_traits})``; ``user_ref`` never changes."""

    user_traits: IdentityTraits


class VisitorConversationsListRequest(WidgetRequest):
    cursor: ShortText | None = None
    limit: Limit = 50


class ConversationRequest(WidgetRequest):
    conversation: ShortText


class VisitorConversationsCreateRequest(WidgetRequest):
    body: MessageBody | None = Field(default=None, description="Required unless artifacts are")
    artifacts: ArtifactIds | None = None
    title: Title | None = None


class MessagesCreateRequest(ConversationRequest):
    body: MessageBody | None = Field(default=None, description="Required unless artifacts are")
    artifacts: ArtifactIds | None = None
    visibility: str | None = Field(
        default=None,
        description="Only `external` (the default): a visitor's message is seen by the "
        "visitors; any other value is a 400 naming `visibility`",
    )


class ArtifactsPrepareWidgetRequest(WidgetRequest):
    """``artifacts.prepare`` for the visitor (see ``ArtifactsPrepareRequest``)."""

    file_name: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    file_type: Annotated[str, StringConstraints(max_length=255)] | None = None
    configuration_set: ConfigurationSet | None = None
    file_size: Annotated[int, Field(ge=0, le=2**40)] | None = None


class ArtifactRequest(WidgetRequest):
    id: Annotated[str, StringConstraints(max_length=255)]
    version: Annotated[str, StringConstraints(max_length=255)] | None = None


class MessagesListRequest(ConversationRequest):
    after_seq: Seq = 0
    limit: Annotated[int, Field(ge=1, le=200)] = 100


class MarkReadRequest(ConversationRequest):
    seq: Seq | None = None


class MailSettingsUpdateRequest(WidgetRequest):
    email: Annotated[str, StringConstraints(max_length=254)] | None = Field(
        default=None,
        description="Where to get replies by email: an unverified address, kept apart from the "
        'visitor\'s `email` trait and never used to identify anyone; "" withdraws it. Leaving '
        "one subscribes, unless `subscribed` says otherwise",
    )
    subscribed: bool | None = Field(
        default=None, description="false: no more mail; true: undoes an unsubscribe"
    )


# --- responses ------------------------------------------------------------------


class Visitor(Answer):
    id: str
    display_name: str
    is_verified: bool


class SessionResponse(Answer):
    session_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds")
    user: Visitor
    anonymous_credential: str | None = Field(
        default=None, description="Only when the visitor was just created: keep it in the browser"
    )


class MergeResponse(Answer):
    merged: Literal[True]
    conversations_moved: int


class VisitorPerson(Answer):
    """Who wrote a message, as a visitor may see them (no email); a
    ``sys_user`` is the app's team (the away message)."""

    type: Literal["rev_user", "dev_user", "sys_user"]
    id: str
    display_id: str
    display_name: str


class VisitorMessage(Answer):
    id: str
    conversation: str
    seq: int
    body: str
    body_type: Literal["text"]
    created_date: Date
    author: VisitorPerson | None
    artifacts: list[ArtifactSummary]
    from_agent: bool
    modified_date: Date = omitted_when_none("Present once its author edited it")
    mine: bool


class VisitorConversation(Answer):
    id: str
    display_id: str
    title: str | None
    status: Status
    created_date: Date
    modified_date: Date
    last_message_date: Date | None
    last_seq: int
    last_read_seq: int
    unread_count: int
    preview: str | None = Field(description="The latest message, on one line, shortened")
    last_message: VisitorMessage | None = Field(
        default=None, description="The latest message in full: its author and time for the list"
    )
    messages: list[VisitorMessage] | None = Field(
        default=None, description="`conversations.get` and `.create`: the latest, oldest first"
    )


class VisitorConversationResponse(Answer):
    conversation: VisitorConversation


class VisitorConversationsListResponse(Answer):
    conversations: list[VisitorConversation]
    next_cursor: str | None
    user: VisitorPerson | None = Field(
        default=None, description="The visitor the token names (the widget's header shows the name)"
    )


class VisitorMessageResponse(Answer):
    message: VisitorMessage


class VisitorMessagesListResponse(Answer):
    messages: list[VisitorMessage]
    has_more: bool


class MarkReadResponse(Answer):
    last_read_seq: int


class WidgetConfigResponse(Answer):
    availability: AvailabilityView


class MailSettings(Answer):
    address: str | None = Field(
        description="Where replies by email go, masked (a…@example.com); null: nowhere yet"
    )
    address_source: Literal["email_trait", "claim"] | None = Field(
        description="email_trait: the site's address for the visitor (not changeable in the "
        "widget); claim: the one the visitor left"
    )
    subscribed: bool


class MailSettingsResponse(Answer):
    mail_settings: MailSettings
