"""Requests and answers of ``webhooks.*``, in DevRev's shapes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from openplug.crm.fields import FROM_QUERY, ShortText, Strict
from openplug.crm.schemas import Date, Paging
from openplug.web.openapi import Answer

Url = Annotated[str, Field(max_length=2048)]
EventType = Annotated[str, Field(max_length=40)]
EventTypes = Annotated[list[EventType], Field(max_length=100)]
# DevRev: 8 to 32 bytes; the length is checked in bytes by the service.
Secret = Annotated[str, Field(max_length=128)]


class WebhooksCreateRequest(Strict):
    url: Url
    event_types: EventTypes = []
    secret: Secret | None = None


class WebhooksGetRequest(Strict):
    id: ShortText


class WebhooksGetQuery(WebhooksGetRequest):
    model_config = FROM_QUERY


class WebhooksListRequest(Strict):
    pass


class WebhooksUpdateEventTypes(Strict):
    add: EventTypes | None = None
    remove: EventTypes | None = None
    set: EventTypes | None = None


class WebhooksUpdateRequest(Strict):
    id: ShortText
    action: Literal["activate", "deactivate"] | None = None
    event_types: WebhooksUpdateEventTypes | None = None
    secret: Secret | None = None
    url: Url | None = None


class WebhooksDeliveriesListRequest(Paging):
    webhook: ShortText | None = Field(default=None, description="only this webhook's")


class WebhooksDeliveriesListQuery(WebhooksDeliveriesListRequest):
    model_config = FROM_QUERY


class Webhook(Answer):
    id: str
    display_id: str
    created_date: Date
    modified_date: Date
    event_types: list[str]
    secret: str
    status: Literal["active", "inactive", "unverified"]
    url: str


class WebhookResponse(Answer):
    webhook: Webhook


class WebhooksListResponse(Answer):
    webhooks: list[Webhook]


class WebhookDelivery(Answer):
    id: str
    webhook_id: str
    event_id: str = Field(description="the event's id, the same on every attempt")
    type: str
    state: Literal["pending", "delivered", "failed", "dropped"]
    attempts: int
    last_status: int | None = Field(default=None, description="the last HTTP status answered")
    last_error: str | None = None
    created_date: Date
    last_attempt_date: Date | None = None
    delivered_date: Date | None = None


class WebhookDeliveriesListResponse(Answer):
    deliveries: list[WebhookDelivery] = Field(description="Newest first")
    next_cursor: str | None = None
