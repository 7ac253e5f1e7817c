"""Outgoing mail's shapes, as the OpenAPI document declares them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openplug.crm.fields import FROM_QUERY, ShortText, Strict
from openplug.crm.schemas import Date, Paging
from openplug.web.openapi import Answer

MailState = Literal["queued", "sent", "failed", "held"]


class OutgoingMailListRequest(Paging):
    conversation: ShortText | None = Field(default=None, description="Only this conversation's")


class OutgoingMailListQuery(OutgoingMailListRequest):
    model_config = FROM_QUERY


class OutgoingMailGetRequest(Strict):
    id: ShortText


class OutgoingMailGetQuery(OutgoingMailGetRequest):
    model_config = FROM_QUERY


class OutgoingMail(Answer):
    id: str
    kind: str = Field(description="visitor_reply, agent_new_conversation or agent_unread")
    message_id: str
    recipient: str
    subject: str
    state: MailState = Field(
        description="queued: waiting to be sent or retried; held: composed with no SMTP "
        "server configured, never sent; failed: refused for good"
    )
    created_date: Date
    sent_date: Date | None = None
    last_error: str | None = None
    conversation: str | None = None


class OutgoingMailDetail(OutgoingMail):
    text: str = Field(description="The plain-text part, as the recipient reads it")
    headers: dict[str, str]
    raw: str = Field(description="The whole message as sent")


class OutgoingMailListResponse(Answer):
    mails: list[OutgoingMail] = Field(description="Newest first")
    next_cursor: str | None = None


class OutgoingMailGetResponse(Answer):
    mail: OutgoingMailDetail
