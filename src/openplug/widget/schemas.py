"""Request bodies of the widget's calls. Every call names its app; the
session token goes in ``Authorization``, never in a URL."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from openplug.conversations.schemas import MessageBody, Seq, Title
from openplug.crm.fields import ShortText, Strict
from openplug.crm.schemas import Limit

AppId = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Credential = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class WidgetRequest(Strict):
    app_id: AppId


class SessionRequest(WidgetRequest):
    anonymous_credential: Credential | None = None


class MergeRequest(WidgetRequest):
    anonymous_credential: Credential


class VisitorConversationsListRequest(WidgetRequest):
    cursor: ShortText | None = None
    limit: Limit = 50


class ConversationRequest(WidgetRequest):
    conversation: ShortText


class VisitorConversationsCreateRequest(WidgetRequest):
    body: MessageBody
    title: Title | None = None


class MessagesCreateRequest(ConversationRequest):
    body: MessageBody


class MessagesListRequest(ConversationRequest):
    after_seq: Seq = 0
    limit: Annotated[int, Field(ge=1, le=200)] = 100


class MarkReadRequest(ConversationRequest):
    seq: Seq | None = None
