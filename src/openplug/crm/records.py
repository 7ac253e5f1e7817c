"""Reading and editing CRM records for agents: rev users, accounts and
workspaces (rev orgs), in DevRev's shapes."""

from __future__ import annotations

import base64
import binascii
import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, false, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.crm.custom_fields import (
    check_immutable,
    load_field_defs,
    validate_custom_fields,
    with_defaults,
)
from openplug.crm.fields import is_query_form
from openplug.crm.merge import changed_columns
from openplug.crm.schemas import date_ranges
from openplug.crm.tables import accounts, rev_orgs, rev_users
from openplug.db.base import rfc3339, utcnow
from openplug.db.pages import Page, fetch_page, parse_sort_by
from openplug.errors import Conflict, InvalidField, MissingRequiredField, NotFound
from openplug.ids import (
    ACCOUNT,
    REV_ORG,
    REV_USER,
    ObjectKind,
    ascii_int,
    display_id,
    don,
    parse_int_key,
)
from openplug.web.openapi import without_none

Row = Mapping[Any, Any]


@dataclass(frozen=True)
class Leaf:
    name: str  # DevRev's object type, also the custom-field leaf type
    table: Table
    kind: ObjectKind


REV_USERS = Leaf("rev_user", rev_users, REV_USER)
ACCOUNTS = Leaf("account", accounts, ACCOUNT)
REV_ORGS = Leaf("rev_org", rev_orgs, REV_ORG)


# --- paging and filters -------------------------------------------------------


def encode_cursor(key: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, _, text = raw.partition(":")
        key = ascii_int(text)
        if version != "v1" or key is None:
            raise ValueError
        return key
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidField("cursor", "not a cursor this server handed out") from None


def split_filter(values: Sequence[str] | None, form: Any = None) -> list[str] | None:
    """Every form a list filter arrives in: repeated parameters (``?a=1&a=2``),
    OpenAPI's ``style=form, explode=false`` (``?a=1,2``, how DevRev's
    document declares them) and DevRev's SDK's ``"1","2"`` (which lets a
    value hold a comma). ``form`` is the request they came in: in a JSON
    body each item is taken as it is."""
    if values is None:
        return None
    out: list[str] = []
    for value in values:
        if value.startswith('"'):
            out.extend(item for row in csv.reader([value]) for item in row)
        elif "," in value and is_query_form(form):
            out.extend(value.split(","))
        else:
            out.append(value)
    return out


def ids_filter(
    values: Sequence[str] | None, kind: ObjectKind, field: str, form: Any = None
) -> list[int] | None:
    items = split_filter(values, form)
    return None if items is None else [parse_int_key(v, kind, field) for v in items]


# --- reading --------------------------------------------------------------------


async def get_by_account(conn: AsyncConnection, leaf: Leaf, account: str | None) -> Row:
    """rev-orgs.get by ``account``: its first workspace."""
    if account is None:
        raise MissingRequiredField("id", "give the workspace's id (or its account)")
    key = parse_int_key(account, ACCOUNT, "account")
    row = (
        await conn.execute(
            select(leaf.table).where(leaf.table.c.account_id == key).order_by(leaf.table.c.id)
        )
    ).first()
    if row is None:
        raise NotFound(f"no {leaf.name} of account {account}")
    return row._mapping


async def get_row(conn: AsyncConnection, leaf: Leaf, id_value: str, field: str = "id") -> Row:
    key = parse_int_key(id_value, leaf.kind, field)
    row = (await conn.execute(select(leaf.table).where(leaf.table.c.id == key))).first()
    if row is None:
        raise NotFound(f"{leaf.name} {id_value} not found")
    return row._mapping


def sortable(leaf: Leaf) -> dict[str, Any]:
    """What ``sort_by`` may name on this kind of record."""
    t = leaf.table
    return {
        "created_date": t.c.created_at,
        "modified_date": t.c.modified_at,
        "display_name": t.c.display_name,
    }


def listing_where(leaf: Leaf, req: Any) -> list[Any]:
    """The filters every record list shares: date ranges (both ends
    inclusive) and ``created_by``, which no record of openplug's matches
    (they are made by identification, not by a dev user)."""
    t = leaf.table
    where: list[Any] = []
    created, modified = date_ranges(req)
    for column, found in ((t.c.created_at, created), (t.c.modified_at, modified)):
        if found is not None and found.after is not None:
            where.append(column >= found.after)
        if found is not None and found.before is not None:
            where.append(column <= found.before)
    if getattr(req, "created_by", None) is not None:
        where.append(false())
    return where


async def list_rows(conn: AsyncConnection, leaf: Leaf, *, where: Sequence[Any], req: Any) -> Page:
    """Newest first unless ``sort_by`` says otherwise; ``mode`` and the
    cursors as in ``db.pages``."""
    keys = parse_sort_by(split_filter(req.sort_by, req), sortable(leaf), leaf.table.c.id)
    query = select(leaf.table).where(*where, *listing_where(leaf, req))
    return await fetch_page(conn, query, keys, cursor=req.cursor, mode=req.mode, limit=req.limit)


# --- shaping ----------------------------------------------------------------------


# Fields DevRev types as a string or an object (never null): left out when
# the record has no value.
_OMITTED = ("description", "email", "external_ref", "rev_org", "account", "tier", "domain")


class Renderer:
    """Renders rows with summaries of the records they point to, fetched in
    one query per related table rather than one per row."""

    def __init__(self, conn: AsyncConnection, org_id: str) -> None:
        self.conn = conn
        self.org_id = org_id

    def _base(self, leaf: Leaf, row: Row) -> dict[str, Any]:
        key = int(row["id"])
        return {
            "type": leaf.name,
            "id": don(self.org_id, leaf.kind, key),
            "display_id": display_id(leaf.kind, key),
            "display_name": row["display_name"],
        }

    async def _summaries(self, leaf: Leaf, keys: set[int]) -> dict[int, dict[str, Any]]:
        if not keys:
            return {}
        rows = await self.conn.execute(
            select(leaf.table.c.id, leaf.table.c.display_name).where(leaf.table.c.id.in_(keys))
        )
        return {int(r.id): self._base(leaf, r._mapping) for r in rows}

    def _common(self, leaf: Leaf, row: Row) -> dict[str, Any]:
        return {
            **self._base(leaf, row),
            "description": row["description"],
            "phone_numbers": row["phone_numbers"],
            "custom_fields": row["custom_fields"],
            "created_date": rfc3339(row["created_at"]),
            "modified_date": rfc3339(row["modified_at"]),
        }

    async def rev_users(self, rows: Sequence[Row]) -> list[dict[str, Any]]:
        org_keys = {r["rev_org_id"] for r in rows if r["rev_org_id"]}
        org_accounts: dict[int, int | None] = {}
        if org_keys:
            found = await self.conn.execute(
                select(rev_orgs.c.id, rev_orgs.c.account_id).where(rev_orgs.c.id.in_(org_keys))
            )
            org_accounts = {int(r.id): r.account_id for r in found}

        def account_of(r: Row) -> int | None:
            if r["rev_org_id"]:
                return org_accounts.get(r["rev_org_id"])
            return r["account_id"]  # type: ignore[no-any-return]

        orgs = await self._summaries(REV_ORGS, org_keys)
        accs = await self._summaries(ACCOUNTS, {a for r in rows if (a := account_of(r))})
        return [
            without_none(
                {
                    **self._common(REV_USERS, r),
                    "email": r["email"],
                    "external_ref": r["external_ref"],
                    "rev_org": orgs.get(r["rev_org_id"]),
                    "account": accs.get(account_of(r)),  # type: ignore[arg-type]
                    "is_verified": r["is_verified"],
                    "state": r["state"],
                },
                *_OMITTED,
            )
            for r in rows
        ]

    async def accounts(self, rows: Sequence[Row]) -> list[dict[str, Any]]:
        return [
            without_none(
                {
                    **self._common(ACCOUNTS, r),
                    "domains": r["domains"],
                    "websites": r["websites"],
                    "external_refs": [r["external_ref"]] if r["external_ref"] else [],
                    "tier": r["tier"],
                    # Required by DevRev's schema; openplug's accounts have
                    # no owners (accounts.update accepts and ignores them).
                    "owned_by": [],
                },
                *_OMITTED,
            )
            for r in rows
        ]

    async def rev_orgs(self, rows: Sequence[Row]) -> list[dict[str, Any]]:
        accs = await self._summaries(ACCOUNTS, {r["account_id"] for r in rows if r["account_id"]})
        return [
            without_none(
                {
                    **self._common(REV_ORGS, r),
                    "external_ref": r["external_ref"],
                    "account": accs.get(r["account_id"]),
                    "tier": r["tier"],
                    "domain": r["domain"],
                },
                *_OMITTED,
            )
            for r in rows
        ]


# --- editing ----------------------------------------------------------------------


# What a record has before anyone said anything about it.
_EMPTY: dict[str, dict[str, Any]] = {
    "rev_user": {"phone_numbers": [], "custom_fields": {}, "is_verified": True,
                 "state": "active"},
    "account": {"domains": [], "websites": [], "phone_numbers": [], "custom_fields": {}},
    "rev_org": {"phone_numbers": [], "custom_fields": {}},
}  # fmt: skip


async def insert_row(conn: AsyncConnection, leaf: Leaf, sent: dict[str, Any]) -> Row:
    """A new record from an agent's ``*.create`` (the trait rules of
    ``update_row``: custom fields checked against the schema, an
    ``external_ref`` unique, a 409 when taken). A rev user made so is
    verified: the org's own backend or agent vouches for it, as a session
    token's ``rev_info`` does."""
    defs = await load_field_defs(conn, leaf.name)
    sent_fields = sent.get("custom_fields") or {}
    values = validate_custom_fields(sent_fields, defs, leaf.name, "custom_fields")
    sent = {**sent, "custom_fields": with_defaults(values, defs)}
    if sent.get("external_ref") is not None:
        taken = await conn.execute(
            select(leaf.table.c.id).where(leaf.table.c.external_ref == sent["external_ref"])
        )
        if taken.first() is not None:
            raise Conflict(f"another {leaf.name} has external_ref {sent['external_ref']}")
    now = utcnow()
    values = {**_EMPTY[leaf.name], **{k: v for k, v in sent.items() if v is not None}}
    try:
        key = (
            await conn.execute(
                insert(leaf.table)
                .values(**values, created_at=now, modified_at=now)
                .returning(leaf.table.c.id)
            )
        ).scalar_one()
    except IntegrityError:
        # Two creates with one external_ref at once: the unique index
        # decides, and the loser's transaction rolls back whole.
        raise Conflict(f"another {leaf.name} has external_ref {sent['external_ref']}") from None
    row = (await conn.execute(select(leaf.table).where(leaf.table.c.id == key))).first()
    if row is None:
        raise NotFound(f"{leaf.name} not found")
    return row._mapping


async def update_row(conn: AsyncConnection, leaf: Leaf, id_value: str, sent: dict[str, Any]) -> Row:
    """Apply the trait merge rules; no write when nothing changes."""
    row = await get_row(conn, leaf, id_value)
    if "custom_fields" in sent:
        defs = await load_field_defs(conn, leaf.name)
        values = validate_custom_fields(
            sent["custom_fields"] or {}, defs, leaf.name, "custom_fields"
        )
        check_immutable(row["custom_fields"], values, defs, "custom_fields")
        sent = {**sent, "custom_fields": values}
    changes = changed_columns(row, sent)
    if changes.get("external_ref") is not None:
        taken = await conn.execute(
            select(leaf.table.c.id).where(
                leaf.table.c.external_ref == changes["external_ref"], leaf.table.c.id != row["id"]
            )
        )
        if taken.first() is not None:
            raise Conflict(f"another {leaf.name} has external_ref {changes['external_ref']}")
    if changes:
        await conn.execute(
            update(leaf.table)
            .where(leaf.table.c.id == row["id"])
            .values(**changes, modified_at=utcnow())
        )
    return await get_row(conn, leaf, id_value)


async def revoke_sessions(conn: AsyncConnection, id_value: str, *, actor: Actor) -> int:
    """Every session token issued to the user until now stops working; the
    user's key."""
    row = await get_row(conn, REV_USERS, id_value)
    key = int(row["id"])
    await conn.execute(
        update(rev_users).where(rev_users.c.id == key).values(sessions_revoked_at=utcnow())
    )
    await record(conn, actor, "rev_user.sessions_revoked", display_id(REV_USER, key))
    return key
