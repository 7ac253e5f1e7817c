"""Identify: upsert the rev user, workspace and account that a ``rev_info``
describes, and say which rev user the session token is for.

Two phases. A read-only pass decides whether anything would change; a
returning visitor with the same traits (the common case, on every page
load) costs no write at all. Otherwise one write transaction re-reads and
upserts. Concurrent identifies of a new ref are settled by the unique
constraint on ``external_ref`` and ``INSERT ... ON CONFLICT DO NOTHING``:
whoever loses the race reads the winner's row and carries on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm.custom_fields import (
    FieldDef,
    check_required_on_create,
    load_all_field_defs,
    validate_custom_fields,
)
from openplug.crm.friendly_names import friendly_name
from openplug.crm.merge import changed_columns, merge_custom_fields
from openplug.crm.rev_info import Identification
from openplug.crm.tables import accounts, rev_orgs, rev_users
from openplug.db import Database
from openplug.db.base import utcnow
from openplug.db.point_reads import PointRead
from openplug.errors import InvalidField
from openplug.ids import REV_USER, parse_int_key

Row = Mapping[Any, Any]
Defs = dict[str, dict[str, FieldDef]]


@dataclass(frozen=True)
class _Sent:
    """Column values the request sets, custom fields already validated."""

    user: dict[str, Any]
    workspace: dict[str, Any]
    account: dict[str, Any]


async def identify(db: Database, ident: Identification) -> int:
    """The rev user's key, after creating or updating what ``ident`` says."""
    defs: Defs = _NO_DEFS
    if _sends_custom_fields(ident):
        async with db.read() as conn:
            defs = await load_all_field_defs(conn)
    sent = _columns_sent(ident, defs)
    fetch = _point_fetch(db)
    account = await fetch(accounts, "external_ref", ident.account_ref)
    workspace = await fetch(rev_orgs, "external_ref", ident.workspace_ref)
    user = await _find_user(fetch, ident)
    if user is not None and _nothing_changes(ident, sent, account, workspace, user):
        return int(user["id"])
    async with db.write() as conn:
        defs = await load_all_field_defs(conn)
        return await _apply(conn, ident, _columns_sent(ident, defs), defs)


# --- reading, in the read phase (fast point reads) or inside the write
# transaction (the connection that holds the lock) --------------------------

Fetch = Callable[[Table, str, Any], Awaitable[Row | None]]
_NO_DEFS: Defs = {"rev_user": {}, "account": {}, "rev_org": {}}
_POINT_READS: dict[tuple[str, str], PointRead] = {}


def _point_fetch(db: Database) -> Fetch:
    async def fetch(table: Table, column: str, value: Any) -> Row | None:
        if value is None:
            return None
        query = _POINT_READS.get((table.name, column))
        if query is None:
            query = PointRead(select(table).where(table.c[column] == bindparam("value")))
            _POINT_READS[(table.name, column)] = query
        return await db.points.one(query, value=value)

    return fetch


def _conn_fetch(conn: AsyncConnection) -> Fetch:
    async def fetch(table: Table, column: str, value: Any) -> Row | None:
        if value is None:
            return None
        row = (await conn.execute(select(table).where(table.c[column] == value))).first()
        return None if row is None else row._mapping

    return fetch


def _sends_custom_fields(ident: Identification) -> bool:
    return any(
        "custom_fields" in traits
        for traits in (ident.user_traits, ident.workspace_traits, ident.account_traits)
    )


def _with_custom(
    traits: dict[str, Any], defs: dict[str, FieldDef], leaf_type: str, path: str
) -> dict[str, Any]:
    columns = dict(traits)
    if "custom_fields" in columns:
        columns["custom_fields"] = validate_custom_fields(
            columns["custom_fields"] or {}, defs, leaf_type, f"{path}.custom_fields"
        )
    return columns


def _columns_sent(ident: Identification, defs: Defs) -> _Sent:
    user = _with_custom(
        ident.user_traits, defs["rev_user"], "rev_user", f"{ident.path}.user_traits"
    )
    full_name = user.pop("full_name", None)
    if full_name is not None and "display_name" not in user:
        user["display_name"] = full_name
    # An AAT-signed rev_info is what makes a user verified.
    user["is_verified"] = True
    return _Sent(
        user=user,
        workspace=_with_custom(
            ident.workspace_traits,
            defs["rev_org"],
            "rev_org",
            f"{ident.path}.{ident.workspace_key}",
        ),
        account=_with_custom(
            ident.account_traits, defs["account"], "account", f"{ident.path}.account_traits"
        ),
    )


def _workspace_sent(sent: _Sent, account: Row | None) -> dict[str, Any]:
    if account is None:
        return sent.workspace
    return {**sent.workspace, "account_id": account["id"]}


def _user_sent(sent: _Sent, account: Row | None, workspace: Row | None) -> dict[str, Any]:
    """Three levels when a workspace is named (the user's account is then the
    workspace's, never stored twice), two when only an account is."""
    if workspace is not None:
        return {**sent.user, "rev_org_id": workspace["id"], "account_id": None}
    if account is not None:
        return {**sent.user, "rev_org_id": None, "account_id": account["id"]}
    return sent.user


def _nothing_changes(
    ident: Identification, sent: _Sent, account: Row | None, workspace: Row | None, user: Row
) -> bool:
    if ident.account_ref is not None and (
        account is None or changed_columns(account, sent.account)
    ):
        return False
    if ident.workspace_ref is not None and (
        workspace is None or changed_columns(workspace, _workspace_sent(sent, account))
    ):
        return False
    return not changed_columns(user, _user_sent(sent, account, workspace))


async def _find_user(fetch: Fetch, ident: Identification) -> Row | None:
    if ident.user_id is None:
        return await fetch(rev_users, "external_ref", ident.user_ref)
    key = parse_int_key(ident.user_id, REV_USER, f"{ident.path}.user_id")
    user = await fetch(rev_users, "id", key)
    if user is None:
        raise InvalidField(f"{ident.path}.user_id", "no rev user has this id")
    if ident.user_ref is not None and user["external_ref"] not in (None, ident.user_ref):
        raise InvalidField(f"{ident.path}.user_ref", "differs from the user's ref (user_id)")
    return user


async def _apply(conn: AsyncConnection, ident: Identification, sent: _Sent, defs: Defs) -> int:
    path = ident.path
    account = workspace = None
    if ident.account_ref is not None:
        account = await _upsert(
            conn, accounts, ident.account_ref, sent.account,
            defaults={"display_name": ident.account_ref, "domains": [], "websites": [],
                      "phone_numbers": []},
            required=defs["account"], required_path=f"{path}.account_traits.custom_fields",
        )  # fmt: skip
    if ident.workspace_ref is not None:
        workspace = await _upsert(
            conn, rev_orgs, ident.workspace_ref, _workspace_sent(sent, account),
            defaults={"display_name": ident.workspace_ref, "phone_numbers": []},
            required=defs["rev_org"],
            required_path=f"{path}.{ident.workspace_key}.custom_fields",
        )  # fmt: skip
    user_sent = _user_sent(sent, account, workspace)
    user_defaults: dict[str, Any] = {
        "display_name": sent.user.get("email") or friendly_name(),
        "phone_numbers": [],
        "state": "active",
    }
    if ident.user_id is not None:
        # user_id names an existing user (checked in the read phase), so
        # there is nothing to create; rows may have changed since, re-read.
        existing = await _find_user(_conn_fetch(conn), ident)
        assert existing is not None
        changes = changed_columns(existing, user_sent)
        if changes:
            await _update(conn, rev_users, int(existing["id"]), changes)
        return int(existing["id"])
    assert ident.user_ref is not None
    user = await _upsert(
        conn, rev_users, ident.user_ref, user_sent, defaults=user_defaults,
        required=defs["rev_user"], required_path=f"{path}.user_traits.custom_fields",
    )  # fmt: skip
    return int(user["id"])


async def _update(conn: AsyncConnection, table: Table, key: int, changes: dict[str, Any]) -> None:
    await conn.execute(
        update(table).where(table.c.id == key).values(**changes, modified_at=utcnow())
    )


async def _upsert(
    conn: AsyncConnection,
    table: Table,
    ref: str,
    sent: dict[str, Any],
    *,
    defaults: dict[str, Any],
    required: dict[str, FieldDef],
    required_path: str,
) -> Row:
    fetch = _conn_fetch(conn)
    row = await fetch(table, "external_ref", ref)
    if row is None:
        values = {**defaults, **sent}
        values["custom_fields"] = merge_custom_fields({}, sent.get("custom_fields", {}))
        check_required_on_create(values["custom_fields"], required, required_path)
        now = utcnow()
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        created = (
            await conn.execute(
                insert(table)
                .values(external_ref=ref, created_at=now, modified_at=now, **values)
                .on_conflict_do_nothing(index_elements=["external_ref"])
                .returning(*table.c)
            )
        ).first()
        if created is not None:
            return created._mapping
        # Another request created it between our read and our insert.
        row = await fetch(table, "external_ref", ref)
        assert row is not None
    changes = changed_columns(row, sent)
    if not changes:
        return row
    await _update(conn, table, int(row["id"]), changes)
    return {**row, **changes}
