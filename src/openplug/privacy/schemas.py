"""The personal-data export's shape, as the OpenAPI document declares it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from openplug.activity.schemas import TrackedEventView
from openplug.conversations.schemas import TimelineEntry
from openplug.conversations.service import Status
from openplug.crm.schemas import Account, Date, RevOrg, RevUser
from openplug.web.openapi import Answer


class MergedIdentity(Answer):
    display_id: str
    display_name: str
    created_date: Date
    merged_date: Date


class BrowserCredential(Answer):
    """Listed by when it was made, never by value."""

    rev_user: str
    created_date: Date


class ExportedConversation(Answer):
    id: str
    display_id: str
    title: str | None
    status: Status
    created_date: Date
    messages: list[TimelineEntry] = Field(description="Every message, oldest first")


class ExportedVisit(Answer):
    """What the site sent about the person's visits (plugSDK.trackEvent,
    addSessionProperties), per identity that has any."""

    rev_user: str
    events: list[TrackedEventView] = Field(description="Newest first")
    session_properties: dict[str, object]
    current_page: str | None


class PersonalDataExport(Answer):
    format: Literal["openplug.personal-data/1"]
    exported_at: Date
    rev_user: RevUser
    rev_org: RevOrg | None
    account: Account | None
    anonymous_identities: list[MergedIdentity]
    browser_credentials: list[BrowserCredential]
    conversations: list[ExportedConversation]
    visits: list[ExportedVisit]
    files: list[dict[str, object]] = Field(description="Empty until conversations carry files")
