"""Apps: each website that embeds the widget, with its public app id and the
origins its widget may run on."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.availability import AvailabilityChange
from openplug.availability.hours import DEFAULT_TIME_ZONE
from openplug.db.base import rfc3339, utcnow
from openplug.errors import InvalidField, NotFound
from openplug.identity.tables import apps


@dataclass(frozen=True)
class App:
    pk: int
    app_id: str
    name: str
    allowed_origins: list[str]
    require_identification: bool
    created_at: datetime
    # How long an agent's reply may wait unseen before the visitor is mailed.
    mail_delay_seconds: int = 120
    # Where mails link back to; None: the first allowed origin.
    site_url: str | None = None
    # Availability (openplug.availability): office hours in ``time_zone``,
    # None meaning always open; the widget's expected reply time; the
    # message posted once per conversation outside office hours.
    time_zone: str = DEFAULT_TIME_ZONE
    office_hours: dict[str, list[dict[str, str]]] | None = None
    reply_time: str | None = None
    away_message: str | None = None


def _from_row(row: Row[Any]) -> App:
    m = row._mapping
    return App(
        pk=m["id"],
        app_id=m["app_id"],
        name=m["name"],
        allowed_origins=list(m["allowed_origins"]),
        require_identification=m["require_identification"],
        created_at=m["created_at"],
        mail_delay_seconds=m["mail_delay_seconds"],
        site_url=m["site_url"],
        time_zone=m["time_zone"],
        office_hours=m["office_hours"],
        reply_time=m["reply_time"],
        away_message=m["away_message"],
    )


def app_json(app: App) -> dict[str, Any]:
    """An app as the API and ``--json`` show it."""
    return {
        "app_id": app.app_id,
        "name": app.name,
        "allowed_origins": app.allowed_origins,
        "require_identification": app.require_identification,
        "created_date": rfc3339(app.created_at),
        "mail_delay_seconds": app.mail_delay_seconds,
        **({"site_url": app.site_url} if app.site_url else {}),
        "time_zone": app.time_zone,
        "office_hours": app.office_hours,
        "reply_time": app.reply_time,
        "away_message": app.away_message,
    }


def normalise_origins(values: list[str]) -> list[str]:
    """Every origin checked, a bad one named by its place in the list (the
    API's ``allowed_origins[i]``, the CLI's i-th ``--origin``)."""
    return [normalise_origin(v, f"allowed_origins[{i}]") for i, v in enumerate(values)]


def normalise_site_url(value: str, field_name: str = "site_url") -> str | None:
    """An http(s) URL mails may link to; "" clears it."""
    if not value.strip():
        return None
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField(field_name, f"{value!r} is not a URL like https://example.com/help")
    return parts.geturl()


def normalise_origin(value: str, field_name: str = "origin") -> str:
    """``scheme://host[:port]``, lower-case, no path: what browsers send."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidField(field_name, f"{value!r} is not an origin like https://example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidField(field_name, f"{value!r} has a path; an origin is scheme://host[:port]")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


async def create_app(
    conn: AsyncConnection,
    name: str,
    origins: list[str],
    require_identification: bool = False,
    *,
    actor: Actor,
) -> App:
    app_id = "app_" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y")
    await conn.execute(
        apps.insert().values(
            app_id=app_id,
            name=name,
            allowed_origins=normalise_origins(origins),
            require_identification=require_identification,
            created_at=utcnow(),
        )
    )
    app = await get_app(conn, app_id)
    await record(conn, actor, "app.created", app_id, _settings_of(app))
    return app


def _settings_of(app: App) -> dict[str, Any]:
    return {
        "name": app.name,
        "allowed_origins": app.allowed_origins,
        "require_identification": app.require_identification,
        "mail_delay_seconds": app.mail_delay_seconds,
        "site_url": app.site_url,
        "time_zone": app.time_zone,
        "office_hours": app.office_hours,
        "reply_time": app.reply_time,
        "away_message": app.away_message,
    }


async def get_app(conn: AsyncConnection, app_id: str) -> App:
    row = (await conn.execute(select(apps).where(apps.c.app_id == app_id))).first()
    if row is None:
        raise NotFound(f"app {app_id} not found")
    return _from_row(row)


async def list_apps(conn: AsyncConnection) -> list[App]:
    return [_from_row(r) for r in (await conn.execute(select(apps).order_by(apps.c.id))).all()]


async def update_app(
    conn: AsyncConnection,
    app_id: str,
    *,
    name: str | None = None,
    origins: list[str] | None = None,
    require_identification: bool | None = None,
    mail_delay_seconds: int | None = None,
    site_url: str | None = None,
    availability: AvailabilityChange | None = None,
    actor: Actor,
) -> App:
    app = await get_app(conn, app_id)
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if origins is not None:
        values["allowed_origins"] = normalise_origins(origins)
    if require_identification is not None:
        values["require_identification"] = require_identification
    if mail_delay_seconds is not None:
        values["mail_delay_seconds"] = mail_delay_seconds
    if site_url is not None:
        values["site_url"] = normalise_site_url(site_url)
    if availability is not None:
        values.update(availability.columns())
    if not values:
        return app
    await conn.execute(update(apps).where(apps.c.id == app.pk).values(**values))
    updated = await get_app(conn, app_id)
    before, after = _settings_of(app), _settings_of(updated)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if after[k] != before[k]}
    if changed:
        await record(conn, actor, "app.updated", app_id, changed)
    return updated
