"""The rules of webhooks: what a URL and a secret may be, how the status
moves (``unverified`` until the endpoint answers the handshake, ``active``,
``inactive`` when deactivated), and the audit record of each change.

Every function takes the caller's connection: the webhook, its handshake
delivery and the audit record commit together or not at all.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.db.base import rfc3339, utcnow
from openplug.errors import InvalidField, NotFound
from openplug.ids import WEBHOOK, display_id, don, parse_int_key
from openplug.webhooks.events import DEVREV_EVENT_TYPES, VERIFY, add_delivery
from openplug.webhooks.tables import webhook_deliveries, webhooks

Row = Mapping[Any, Any]
MIN_SECRET_BYTES = 8
MAX_SECRET_BYTES = 32
_KNOWN_TYPES = frozenset(DEVREV_EVENT_TYPES)


@dataclass(frozen=True)
class EventTypesChange:
    add: Sequence[str] | None = None
    remove: Sequence[str] | None = None
    set: Sequence[str] | None = None


def webhook_key(value: str, field_name: str = "id") -> int:
    return parse_int_key(value, WEBHOOK, field_name)


def status_of(row: Row) -> str:
    if not row["enabled"]:
        return "inactive"
    return "active" if row["verified"] else "unverified"


def webhook_json(org_id: str, row: Row) -> dict[str, Any]:
    """DevRev's ``webhook``."""
    key = int(row["id"])
    return {
        "id": don(org_id, WEBHOOK, key),
        "display_id": display_id(WEBHOOK, key),
        "created_date": rfc3339(row["created_at"]),
        "modified_date": rfc3339(row["modified_at"]),
        "event_types": list(row["event_types"]),
        "secret": row["secret"],
        "status": status_of(row),
        "url": row["url"],
    }


# --- checks -----------------------------------------------------------------------


def is_public_address(address: str) -> bool:
    """Whether a delivery may go to this IP address without
    ``OPENPLUG_WEBHOOKS_ALLOW_PRIVATE``: globally routable only, so an
    admin's webhook cannot reach the server's loopback, its private network
    or a cloud metadata address."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url: str, *, allow_private: bool, field_name: str = "url") -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise InvalidField(field_name, "must be an http or https URL")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise InvalidField(field_name, "is not a valid URL") from None
    if not host:
        raise InvalidField(field_name, "has no host")
    if allow_private:
        return url
    try:
        public = is_public_address(host)
    except ValueError:  # a name, resolved at each delivery
        public = not (host == "localhost" or host.endswith(".localhost"))
    if not public:
        raise InvalidField(
            field_name,
            "points at a loopback, private or link-local address; the server's "
            "operator must set OPENPLUG_WEBHOOKS_ALLOW_PRIVATE to allow that",
        )
    return url


def check_secret(secret: str, field_name: str = "secret") -> str:
    size = len(secret.encode())
    if not MIN_SECRET_BYTES <= size <= MAX_SECRET_BYTES:
        raise InvalidField(
            field_name, f"must be {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {size}"
        )
    if not secret.isascii() or not secret.isprintable():
        raise InvalidField(field_name, "must be printable ASCII")
    return secret


def check_event_types(values: Sequence[str], field_name: str) -> list[str]:
    for i, value in enumerate(values):
        if value not in _KNOWN_TYPES:
            raise InvalidField(f"{field_name}[{i}]", f"{value!r} is not a DevRev event type")
    return list(dict.fromkeys(values))


def new_secret() -> str:
    """32 URL-safe characters (24 random bytes)."""
    return secrets.token_urlsafe(24)


def new_challenge() -> str:
    return secrets.token_urlsafe(24)


# --- reading ----------------------------------------------------------------------


async def get_webhook(conn: AsyncConnection, key: int) -> Row:
    row = (await conn.execute(select(webhooks).where(webhooks.c.id == key))).first()
    if row is None:
        raise NotFound("webhook not found")
    return row._mapping


async def list_webhooks(conn: AsyncConnection) -> list[Row]:
    rows = await conn.execute(select(webhooks).order_by(webhooks.c.id))
    return [r._mapping for r in rows]


# --- writing ----------------------------------------------------------------------


async def _start_handshake(conn: AsyncConnection, key: int) -> None:
    """A new challenge, and the ``verify`` event that carries it."""
    challenge = new_challenge()
    await conn.execute(
        update(webhooks).where(webhooks.c.id == key).values(verified=False, challenge=challenge)
    )
    await conn.run_sync(lambda sync: add_delivery(sync, key, VERIFY, body={"challenge": challenge}))


def _audit_details(row: Row) -> dict[str, Any]:
    # The host only: a URL's path or query may carry the receiver's token.
    return {"host": urlsplit(str(row["url"])).hostname, "event_types": list(row["event_types"]),
            "status": status_of(row)}  # fmt: skip


async def create_webhook(
    conn: AsyncConnection,
    *,
    url: str,
    event_types: Sequence[str],
    secret: str | None,
    allow_private: bool,
    actor: Actor,
) -> Row:
    check_url(url, allow_private=allow_private)
    types = check_event_types(event_types, "event_types")
    secret = new_secret() if secret is None else check_secret(secret)
    now = utcnow()
    key = (
        await conn.execute(
            insert(webhooks)
            .values(
                url=url,
                secret=secret,
                event_types=types,
                enabled=True,
                verified=False,
                challenge=None,
                created_by=actor.key,
                modified_by=actor.key,
                created_at=now,
                modified_at=now,
            )
            .returning(webhooks.c.id)
        )
    ).scalar_one()
    await _start_handshake(conn, int(key))
    row = await get_webhook(conn, int(key))
    await record(conn, actor, "webhook.created", display_id(WEBHOOK, int(key)), _audit_details(row))
    return row


async def update_webhook(
    conn: AsyncConnection,
    key: int,
    *,
    action: str | None = None,
    event_types: EventTypesChange | None = None,
    secret: str | None = None,
    url: str | None = None,
    allow_private: bool,
    actor: Actor,
) -> Row:
    """DevRev's rules: ``set`` replaces the event types and excludes
    ``add``/``remove``; an empty ``secret`` makes a new one; a new url or
    secret makes the webhook ``unverified`` (a new handshake) while it is
    enabled, and ``activate`` of one never verified starts the handshake."""
    row = await get_webhook(conn, key)
    values: dict[str, Any] = {}
    if event_types is not None:
        if event_types.set is not None and (event_types.add or event_types.remove):
            raise InvalidField("event_types.set", "cannot be sent with add or remove")
        if event_types.set is not None:
            types = check_event_types(event_types.set, "event_types.set")
        else:
            add = check_event_types(event_types.add or [], "event_types.add")
            remove = set(check_event_types(event_types.remove or [], "event_types.remove"))
            types = [t for t in dict.fromkeys([*row["event_types"], *add]) if t not in remove]
        if types != list(row["event_types"]):
            values["event_types"] = types
    rekey = False
    if url is not None and url != row["url"]:
        values["url"] = check_url(url, allow_private=allow_private)
        rekey = True
    if secret is not None:
        values["secret"] = new_secret() if secret == "" else check_secret(secret)
        rekey = rekey or values["secret"] != row["secret"]
    enabled = bool(row["enabled"])
    if action is not None:
        enabled = action == "activate"
        if enabled != row["enabled"]:
            values["enabled"] = enabled
    if rekey:
        values.update(verified=False, challenge=None)
    if not values:
        return row
    await conn.execute(
        update(webhooks)
        .where(webhooks.c.id == key)
        .values(**values, modified_by=actor.key, modified_at=utcnow())
    )
    verified = bool(values.get("verified", row["verified"]))
    if enabled and not verified and (rekey or "enabled" in values):
        await _start_handshake(conn, key)
    updated = await get_webhook(conn, key)
    await record(
        conn, actor, "webhook.updated", display_id(WEBHOOK, key),
        {**_audit_details(updated), "changed": sorted(values.keys() - {"verified", "challenge"})},
    )  # fmt: skip
    return updated


async def delete_webhook(conn: AsyncConnection, key: int, *, actor: Actor) -> None:
    row = await get_webhook(conn, key)
    # Its pending jobs find no delivery and are dropped.
    await conn.execute(delete(webhook_deliveries).where(webhook_deliveries.c.webhook_id == key))
    await conn.execute(delete(webhooks).where(webhooks.c.id == key))
    await record(conn, actor, "webhook.deleted", display_id(WEBHOOK, key), _audit_details(row))
