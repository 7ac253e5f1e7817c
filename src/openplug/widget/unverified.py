"""Visitors the page names without a session token: ``plugSDK.init({identity})``
and ``plugSDK.updateIdentity``.

DevRev's rule, kept here: such a user is *unverified* and stays so. It is
never converted or merged into a verified user, and its ``user_ref`` is
never reused for anyone else. Both directions are enforced:

- naming a ``user_ref`` that a verified user (one the site's backend
  identified with its AAT) already has is refused, so a page script cannot
  become that user or see their conversations;
- the backend's identify (``auth-tokens.create`` with ``rev_info``) of a
  ``user_ref`` an unverified user holds is refused (``crm.identify``), so
  whoever claimed the ref first never ends up holding a verified user.

Anyone who can run script on the site can claim any unclaimed ref; that
is what "not secure" in DevRev's page means, and why the README points
sites to session tokens. The user belongs to the app whose page named it,
like an anonymous visitor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm.changes import CrmChange, run_crm_hooks_async
from openplug.crm.custom_fields import load_all_field_defs, validate_custom_fields
from openplug.crm.friendly_names import friendly_name
from openplug.crm.merge import changed_columns
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.errors import Conflict, Forbidden, InvalidField
from openplug.runtime import Runtime
from openplug.widget.service import Visitor, find_app, mint_visitor_token


@dataclass(frozen=True)
class UnverifiedSession:
    rev_user_key: int
    display_name: str
    session_token: str
    expires_in: int


def is_unverified_identified(row: Any) -> bool:
    """Named by a page (has a ref) but never verified by the site's backend."""
    return not row["is_verified"] and row["external_ref"] is not None


async def identify_unverified(
    runtime: Runtime,
    app_id: str,
    user_ref: str,
    traits: dict[str, Any],
    client_address: str,
) -> UnverifiedSession:
    """A session token for the unverified user ``user_ref`` of ``app_id``,
    created on first use, its traits updated from ``traits``."""
    app = await find_app(runtime, app_id)
    if app is None:
        raise InvalidField("app_id", "no app has this app_id")
    if app.require_identification:
        raise Forbidden(
            "this app requires identified visitors: identify them with a session token, "
            "not the identity option"
        )
    # A returning visitor with the same traits (every page load) writes nothing.
    async with runtime.db.read() as conn:
        columns = await _trait_columns(conn, traits, "user_traits")
        seen = (
            await conn.execute(select(rev_users).where(rev_users.c.external_ref == user_ref))
        ).first()
    if seen is not None:
        found: dict[str, Any] = dict(seen._mapping)
        _refuse_unless_claimable(found, app.pk, "user_ref")
        if not changed_columns(found, columns):
            return _session(runtime, found, app.app_id)
    async with runtime.db.write() as conn:
        # Custom fields are checked again under the write lock, against the
        # schema as it is when they are stored.
        columns = await _trait_columns(conn, traits, "user_traits")
        row = await _by_ref(conn, user_ref)
        if row is None:
            await runtime.new_visitors.check(
                client_address, "too many new visitors from this address; try again later"
            )
            row = await _create(conn, user_ref, columns, app.pk)
            await runtime.new_visitors.record(client_address)
            told = [CrmChange("created", "rev_user", int(row["id"]))]
        else:
            _refuse_unless_claimable(row, app.pk, "user_ref")
            before = row["modified_at"]
            row = await _update(conn, row, columns)
            told = (
                []
                if row["modified_at"] == before
                else [CrmChange("updated", "rev_user", int(row["id"]))]
            )
        await run_crm_hooks_async(runtime.crm_hooks, conn, told)
    return _session(runtime, row, app.app_id)


def _session(runtime: Runtime, row: Any, app_id: str) -> UnverifiedSession:
    token, expires_in = mint_visitor_token(runtime, int(row["id"]), row["created_at"], app_id)
    return UnverifiedSession(int(row["id"]), str(row["display_name"]), token, expires_in)


async def update_identity(runtime: Runtime, visitor: Visitor, traits: dict[str, Any]) -> None:
    """``updateIdentity``: new traits for the unverified user the visitor is.
    Its ``user_ref`` never changes (DevRev: re-initialise for another user)."""
    async with runtime.db.write() as conn:
        row = (
            await conn.execute(
                select(rev_users).where(rev_users.c.id == visitor.rev_user_key).with_for_update()
            )
        ).first()
        if row is None or not is_unverified_identified(row._mapping):
            raise Forbidden(
                "updateIdentity changes a user the page identified (the identity option); "
                "a verified user's traits come from the site's backend"
            )
        columns = await _trait_columns(conn, traits, "user_traits")
        updated = await _update(conn, row._mapping, columns)
        if updated["modified_at"] != row.modified_at:
            change = CrmChange("updated", "rev_user", int(row.id))
            await run_crm_hooks_async(runtime.crm_hooks, conn, [change])


async def _trait_columns(
    conn: AsyncConnection, traits: dict[str, Any], path: str
) -> dict[str, Any]:
    columns = dict(traits)
    if "custom_fields" in columns:
        defs = await conn.run_sync(load_all_field_defs)
        columns["custom_fields"] = validate_custom_fields(
            columns["custom_fields"] or {}, defs["rev_user"], "rev_user", f"{path}.custom_fields"
        )
    return columns


async def _by_ref(conn: AsyncConnection, user_ref: str) -> Any:
    row = (
        await conn.execute(
            select(rev_users).where(rev_users.c.external_ref == user_ref).with_for_update()
        )
    ).first()
    return None if row is None else row._mapping


def _refuse_unless_claimable(row: Any, app_pk: int, field: str) -> None:
    if row["is_verified"]:
        raise Conflict(
            "this user_ref belongs to a verified user; identify them with a session token "
            "(an unverified identity never becomes or merges into a verified user)",
            field_name=field,
        )
    if row["app_pk"] != app_pk or row["state"] != "active":
        raise Conflict("this user_ref is in use by another user", field_name=field)


async def _create(
    conn: AsyncConnection, user_ref: str, columns: dict[str, Any], app_pk: int
) -> Any:
    now = utcnow()
    values = {
        "external_ref": user_ref,
        "display_name": columns.get("display_name") or friendly_name(),
        "email": columns.get("email"),
        "phone_numbers": columns.get("phone_numbers") or [],
        "custom_fields": {
            k: v for k, v in (columns.get("custom_fields") or {}).items() if v is not None
        },
        "is_verified": False,
        "state": "active",
        "app_pk": app_pk,
        "created_at": now,
        "modified_at": now,
    }
    insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    created = (
        await conn.execute(
            insert_(rev_users)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["external_ref"])
            .returning(rev_users.c.id)
        )
    ).first()
    if created is None:  # made by a concurrent call since our read
        row = await _by_ref(conn, user_ref)
        _refuse_unless_claimable(row, app_pk, "user_ref")
        return await _update(conn, row, columns)
    return {**values, "id": created[0]}


async def _update(conn: AsyncConnection, row: Any, columns: dict[str, Any]) -> Any:
    changes = changed_columns(row, columns)
    if changes:
        changes["modified_at"] = utcnow()
        await conn.execute(update(rev_users).where(rev_users.c.id == row["id"]).values(**changes))
    return {**row, **changes}
