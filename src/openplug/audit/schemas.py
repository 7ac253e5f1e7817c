"""The audit trail's shapes, as the OpenAPI document declares them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from openplug.crm.schemas import Date
from openplug.web.openapi import Answer


class AuditActor(Answer):
    type: Literal["dev_user", "rev_user", "operator", "system"]
    via: str = Field(description="pat, web, aat, session, password, cli or server")
    display_id: str | None = None
    email: str | None = None
    display_name: str | None = None


class AuditEvent(Answer):
    id: str
    created_date: Date
    action: str = Field(description="e.g. aat.created, agent.signed_in, app.updated")
    actor: AuditActor
    address: str | None = Field(description="the client address; user@host for the CLI")
    target: str
    details: dict[str, Any]


class AuditLogListResponse(Answer):
    events: list[AuditEvent] = Field(description="Newest first")
    next_cursor: str | None = None
