"""The personal-data export's shape, as the OpenAPI document declares it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class PersonalDataExport(Answer):
    format: Literal["openplug.personal-data/1"]
    exported_at: Date
    rev_user: RevUser
    rev_org: RevOrg | None
    account: Account | None
    anonymous_identities: list[MergedIdentity]
    browser_credentials: list[BrowserCredential]
    conversations: list[ExportedConversation]
    files: list[dict[str, object]] = Field(description="Empty until conversations carry files")
