"""Bodies of the activity calls: the widget's (what the site sends) and the
agents' (what the inbox shows beside a conversation)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from openplug.activity.rules import SHOWN_EVENTS, EventName, PageUrl, Properties
from openplug.crm.fields import FROM_QUERY, ShortText, Strict
from openplug.crm.schemas import Date
from openplug.web.openapi import Answer
from openplug.widget.schemas import WidgetRequest


class TrackEventRequest(WidgetRequest):
    event_name: EventName = Field(description="Letters, digits, `_` and `-` (DevRev's rule)")
    properties: Properties = Field(default_factory=dict)
    page_url: PageUrl | None = Field(default=None, description="The page the event came from")


class SessionPropertiesRequest(WidgetRequest):
    properties: Properties = Field(
        default_factory=dict, description="Added to the visitor's; `null` removes a key"
    )
    page_url: PageUrl | None = Field(
        default=None, description="The page the visitor is on: becomes their current page"
    )


class ActivityRequest(Strict):
    id: ShortText = Field(description="The rev user")
    limit: Annotated[int, Field(ge=1, le=100)] = SHOWN_EVENTS


class ActivityQuery(ActivityRequest):
    model_config = FROM_QUERY


class SessionPropertiesResponse(Answer):
    session_properties: dict[str, Any]


class TrackedEventView(Answer):
    name: str
    properties: dict[str, Any]
    page_url: str | None
    created_date: Date


class ActivityView(Answer):
    rev_user: str
    events: list[TrackedEventView] = Field(description="Newest first")
    session_properties: dict[str, Any]
    current_page: str | None
    last_seen_date: Date | None


class ActivityResponse(Answer):
    activity: ActivityView
