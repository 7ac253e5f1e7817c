"""Identify: upsert the rev user, workspace and account that a ``rev_info``
describes, and say which rev user the session token is for.

Two phases. A read-only pass decides whether anything would change; a
returning visitor with the same traits (the common case, on every page
load) costs no write at all. Otherwise one write transaction upserts what
differs. Concurrent identifies of a new ref are settled by the unique
constraint on ``external_ref`` and ``INSERT ... ON CONFLICT DO NOTHING``:
whoever loses the race reads the winner's row and carries on.

The write phase is plain synchronous SQLAlchemy: ``Database.run_write`` runs
it in a group commit with the other identifies ready at the same time (see
``db.sqlite_writes``; on PostgreSQL through SQLAlchemy's greenlet on an
asyncpg connection). On SQLite its INSERTs, most of its work, run straight
on the transaction's ``sqlite3`` connection (``DirectWrite``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    Table,
    and_,
    bindparam,
    literal_column,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from openplug.crm.changes import CrmChange, CrmHook, CrmLeaf, run_crm_hooks
from openplug.crm.custom_fields import (
    FieldDef,
    check_required_on_create,
    load_all_field_defs,
    validate_custom_fields,
    with_defaults,
)
from openplug.crm.friendly_names import friendly_name
from openplug.crm.merge import changed_columns, merge_custom_fields
from openplug.crm.rev_info import Identification
from openplug.crm.tables import accounts, rev_orgs, rev_users
from openplug.db import Database
from openplug.db.base import utcnow
from openplug.db.point_reads import PointRead
from openplug.db.sqlite_writes import DirectWrite
from openplug.errors import Conflict, InvalidField, InvalidId
from openplug.ids import REV_USER, parse_int_key

Row = Mapping[Any, Any]
Defs = dict[str, dict[str, FieldDef]]
_NO_DEFS: Defs = {"rev_user": {}, "account": {}, "rev_org": {}}


@dataclass(frozen=True)
class IdentifiedUser:
    """Who the session token is for: the key, and the creation stamp that
    binds the token to this row and no later one with the same key."""

    key: int
    created_at: datetime


@dataclass(frozen=True)
class _Sent:
    """Column values the request sets, custom fields already validated."""

    user: dict[str, Any]
    workspace: dict[str, Any]
    account: dict[str, Any]


@dataclass(frozen=True)
class _Seen:
    """What the read phase found."""

    account: Row | None
    workspace: Row | None
    user: Row | None


async def identify(
    db: Database,
    ident: Identification,
    app_pk: int,
    hooks: Sequence[CrmHook] = (),
    *,
    seen_row: Row | None = None,
) -> IdentifiedUser:
    """The rev user, after creating or updating what ``ident`` says, for
    the AAT of the app ``app_pk``.

    Which users an app's AAT may resolve: every identified user of the
    organisation (``user_ref`` is one namespace across apps, so the same
    person signed in to two of the company's sites is one rev user), by ref
    or by ``user_id``; and by ``user_id`` the anonymous visitors of its own
    app. Never another app's anonymous visitor, nor a user that was merged:
    those answer exactly as an id that does not exist.

    ``hooks`` run in the write transaction for each record it created or
    changed (see ``crm.changes``); an unchanged returning visitor never
    reaches them.

    ``seen_row``: the read phase's row, when the caller read it already
    (``seen_statement``, in the same round trip as its own read); it is
    checked here exactly as the read phase's own.
    """
    defs = _NO_DEFS
    if _sends_custom_fields(ident):
        async with db.read() as conn:
            defs = await conn.run_sync(load_all_field_defs)
    sent = _columns_sent(ident, defs)
    if seen_row is None:
        seen = await _read_phase(db, ident, app_pk)
    else:
        seen = _seen_of(ident, seen_row, app_pk)
    if seen.user is not None and _nothing_changes(ident, sent, seen):
        return _identified(seen.user)
    return _identified(
        await db.run_write(
            partial(_write_phase, ident=ident, seen=seen, app_pk=app_pk, hooks=hooks)
        )
    )


def _identified(user: Row) -> IdentifiedUser:
    return IdentifiedUser(int(user["id"]), user["created_at"])


def _sends_custom_fields(ident: Identification) -> bool:
    return any(
        "custom_fields" in traits
        for traits in (ident.user_traits, ident.workspace_traits, ident.account_traits)
    )


# --- read phase: one point read, no transaction -----------------------------


def seen_statement(
    by_id: bool,
    *,
    onto: tuple[FromClause, ColumnElement[bool]] | None = None,
    gate: ColumnElement[bool] | None = None,
    columns: Sequence[ColumnElement[Any]] = (),
) -> Select[Any]:
    """The user (by ref or, ``by_id``, by id), the workspace and the account
    in one statement: each LEFT JOINed onto a single row, so each part is
    NULL when absent and the statement always returns exactly one row.

    ``onto``, ``gate`` and ``columns`` are for a caller that reads a row of
    its own in the same round trip (``identity.principals``: the AAT):
    ``onto`` is a table (or join) and the condition that picks its row,
    LEFT JOINed first; ``columns`` are selected from it; and each CRM row
    is joined only where ``gate`` holds. Parameters: ``seen_params``."""
    one = select(literal_column("1").label("one")).subquery()
    base: FromClause = one if onto is None else one.outerjoin(*onto)
    user_column = rev_users.c.id if by_id else rev_users.c.external_ref

    def on(condition: ColumnElement[bool]) -> ColumnElement[bool]:
        return condition if gate is None else and_(condition, gate)

    joined = (
        base.outerjoin(rev_users, on(user_column == bindparam("user")))
        .outerjoin(rev_orgs, on(rev_orgs.c.external_ref == bindparam("workspace_ref")))
        .outerjoin(accounts, on(accounts.c.external_ref == bindparam("account_ref")))
    )
    # Timestamps are never compared; leaving them out spares converting
    # seven datetimes on every identify.
    seen = [c.label(label) for t, c, label in _seen_columns()]
    return select(*columns, *seen).select_from(joined)


def seen_params(ident: Identification) -> dict[str, Any]:
    """``seen_statement``'s parameters for ``ident`` (a ``user_id`` that is
    not one is refused here)."""
    by_id = ident.user_id is not None
    return {
        "user": _user_key(ident) if by_id else ident.user_ref,
        "workspace_ref": ident.workspace_ref,
        "account_ref": ident.account_ref,
    }


def _seen_columns() -> list[tuple[Table, Any, str]]:
    return [
        (t, c, f"{t.name}__{c.key}")
        for t in _SEEN_TABLES
        for c in t.c
        if c.key not in _NOT_COMPARED and (c.key != "created_at" or t is rev_users)
    ]


_SEEN_TABLES = (rev_users, rev_orgs, accounts)
# (The user's ``created_at`` is read: the session token carries it.)
_NOT_COMPARED = {"modified_at", "sessions_revoked_at"}
# Per table, (label in the statement, column key): the row splits into its
# three parts without scanning every label for each of them.
_SEEN_LABELS = tuple(
    (t.name, tuple((label, c.key) for table, c, label in _seen_columns() if table is t))
    for t in _SEEN_TABLES
)
_SEEN_BY_REF = PointRead(seen_statement(False))
_SEEN_BY_ID = PointRead(seen_statement(True))


async def _read_phase(db: Database, ident: Identification, app_pk: int) -> _Seen:
    query = _SEEN_BY_ID if ident.user_id is not None else _SEEN_BY_REF
    row = await db.points.one(query, **seen_params(ident))
    assert row is not None
    return _seen_of(ident, row, app_pk)


def _seen_of(ident: Identification, row: Row, app_pk: int) -> _Seen:
    parts: dict[str, Row | None] = {}
    for name, labels in _SEEN_LABELS:
        # Each part is NULL as a whole when its row is absent.
        parts[name] = (
            None if row[f"{name}__id"] is None else {key: row[label] for label, key in labels}
        )
    user = parts["rev_users"]
    if ident.user_id is not None:
        user = _check_user_id(ident, user, app_pk)
    elif user is not None:
        _refuse_unverified(user, f"{ident.path}.user_ref")
    return _Seen(account=parts["accounts"], workspace=parts["rev_orgs"], user=user)


def _user_key(ident: Identification) -> int:
    assert ident.user_id is not None
    return parse_int_key(ident.user_id, REV_USER, f"{ident.path}.user_id")


def _check_user_id(ident: Identification, user: Row | None, app_pk: int) -> Row:
    if (
        user is None
        or user["state"] != "active"
        or user["app_pk"] not in (None, app_pk)  # another app's anonymous visitor
    ):
        raise InvalidId(f"{ident.path}.user_id", "no rev user has this id")
    _refuse_unverified(user, f"{ident.path}.user_id")
    if ident.user_ref is not None and user["external_ref"] not in (None, ident.user_ref):
        raise InvalidField(f"{ident.path}.user_ref", "differs from the user's ref (user_id)")
    return user


def _refuse_unverified(user: Row, field: str) -> None:
    """DevRev's rule for users a page named without a session token
    (``plugSDK.init({identity})``, see ``widget.unverified``): they are
    never converted into verified users, and their ref is never reused."""
    if not user["is_verified"] and user["external_ref"] is not None:
        raise Conflict(
            "this user was identified by a web page without a session token (unverified); "
            "an unverified user is never converted or merged into a verified one, and its "
            "ref cannot be reused",
            field_name=field,
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


def _nothing_changes(ident: Identification, sent: _Sent, seen: _Seen) -> bool:
    if ident.account_ref is not None and (
        seen.account is None or changed_columns(seen.account, sent.account)
    ):
        return False
    if ident.workspace_ref is not None and (
        seen.workspace is None
        or changed_columns(seen.workspace, _workspace_sent(sent, seen.account))
    ):
        return False
    assert seen.user is not None
    return not changed_columns(seen.user, _user_sent(sent, seen.account, seen.workspace))


# --- write phase: one transaction, synchronous ---------------------------------


def _write_phase(
    conn: Connection,
    *,
    ident: Identification,
    seen: _Seen,
    app_pk: int,
    hooks: Sequence[CrmHook] = (),
) -> Row:
    changes: list[CrmChange] = []
    user = _write_records(conn, ident=ident, seen=seen, app_pk=app_pk, changes=changes)
    run_crm_hooks(hooks, conn, changes)
    return user


def _write_records(
    conn: Connection, *, ident: Identification, seen: _Seen, app_pk: int, changes: list[CrmChange]
) -> Row:
    # Definitions are re-read under the write lock, so values are checked
    # against the schema as it is when they are stored.
    defs = load_all_field_defs(conn)
    sent = _columns_sent(ident, defs)
    path = ident.path
    account = workspace = None
    if ident.account_ref is not None:
        account = _settle(
            conn, accounts, ident.account_ref, sent.account, seen.account,
            defaults={"display_name": ident.account_ref, "domains": [], "websites": [],
                      "phone_numbers": []},
            required=defs["account"], required_path=f"{path}.account_traits.custom_fields",
            changes=changes,
        )  # fmt: skip
    if ident.workspace_ref is not None and account is not None:
        _check_one_account(conn, ident, int(account["id"]), seen.workspace)
    if ident.workspace_ref is not None:
        workspace = _settle(
            conn, rev_orgs, ident.workspace_ref, _workspace_sent(sent, account), seen.workspace,
            defaults={"display_name": ident.workspace_ref, "phone_numbers": []},
            required=defs["rev_org"],
            required_path=f"{path}.{ident.workspace_key}.custom_fields", changes=changes,
        )  # fmt: skip
    user_sent = _user_sent(sent, account, workspace)
    if ident.user_id is not None:
        # user_id names an existing user: nothing to create. Re-read it under
        # the lock, it may have changed since the read phase.
        row = conn.execute(select(rev_users).where(rev_users.c.id == _user_key(ident))).first()
        user = _check_user_id(ident, None if row is None else row._mapping, app_pk)
        return _update(conn, rev_users, user, user_sent, changes)
    assert ident.user_ref is not None
    user = _upsert(
        conn, rev_users, ident.user_ref, user_sent, seen.user,
        defaults={"display_name": sent.user.get("email") or friendly_name(),
                  "phone_numbers": [], "state": "active"},
        required=defs["rev_user"], required_path=f"{path}.user_traits.custom_fields",
        unverified_field=f"{path}.user_ref", changes=changes,
    )  # fmt: skip
    return user


def _check_one_account(
    conn: Connection, ident: Identification, account_key: int, seen: Row | None
) -> None:
    """A workspace is part of one account (DevRev's rule): naming it with
    another account is refused, not a move. Read under the write lock,
    unless the read phase found it in this very account: then this request
    is ordered before any change made to it since, as ``_settle`` orders
    it for an unchanged workspace (a new user in a known account and
    workspace then costs no statement for either)."""
    if seen is not None and seen["account_id"] == account_key:
        return
    found = conn.execute(_ACCOUNT_OF_WORKSPACE, {"ref": ident.workspace_ref}).first()
    if found is not None and found.account_id is not None and found.account_id != account_key:
        raise Conflict(
            f"workspace {ident.workspace_ref} belongs to another account; "
            "a workspace cannot be part of two accounts",
            field_name=f"{ident.path}.workspace_ref",
        )


_ACCOUNT_OF_WORKSPACE = select(rev_orgs.c.account_id).where(
    rev_orgs.c.external_ref == bindparam("ref")
)


def _settle(
    conn: Connection,
    table: Table,
    ref: str,
    sent: dict[str, Any],
    seen: Row | None,
    **upsert: Any,
) -> Row:
    """An account or workspace the read phase found unchanged is used as
    found, with no statement: neither can be deleted, and a concurrent
    change to it orders this request before that change."""
    if seen is not None and not changed_columns(seen, sent):
        return seen
    return _upsert(conn, table, ref, sent, seen, **upsert)


def _upsert(
    conn: Connection,
    table: Table,
    ref: str,
    sent: dict[str, Any],
    seen: Row | None,
    *,
    defaults: dict[str, Any],
    required: dict[str, FieldDef],
    required_path: str,
    unverified_field: str | None = None,
    changes: list[CrmChange] | None = None,
) -> Row:
    """``unverified_field``: for rev users, the field to name when the row
    found is an unverified user (which is never made verified)."""
    if seen is None:
        # The read phase found nothing: try to create it straight away.
        values = {**defaults, **sent}
        values["custom_fields"] = with_defaults(
            merge_custom_fields({}, sent.get("custom_fields", {})), required
        )
        check_required_on_create(values["custom_fields"], required, required_path)
        now = utcnow()
        params = {"external_ref": ref, "created_at": now, "modified_at": now, **values}
        created = _insert_if_absent(conn, table, params)
        if created is not None:
            if changes is not None:
                changes.append(CrmChange("created", _leaf(table), created))
            # What was stored is what was sent; callers need little more than the id.
            return {**params, "id": created}
    # It exists (perhaps created by a concurrent request since the read
    # phase): update it under the lock.
    row = conn.execute(_by_ref(table), {"ref": ref}).first()
    if row is None:  # deleted since the read phase: create it afresh
        return _upsert(conn, table, ref, sent, None, defaults=defaults, required=required,
                       required_path=required_path,
                       unverified_field=unverified_field, changes=changes)  # fmt: skip
    if unverified_field is not None:
        _refuse_unverified(row._mapping, unverified_field)
    return _update(conn, table, row._mapping, sent, changes)


# Statements built once and given their values as parameters: building an
# INSERT with its values inline costs more than executing it.
_STATEMENTS: dict[tuple[str, ...], Any] = {}


def _insert_if_absent(conn: Connection, table: Table, params: dict[str, Any]) -> int | None:
    """The new row's id, or None when a row with this ref exists already."""
    if conn.dialect.name == "sqlite":
        created = _DIRECT_INSERTS[table.name].first(conn, params)
    else:
        key = ("insert", conn.dialect.name, table.name)
        if key not in _STATEMENTS:
            _STATEMENTS[key] = (
                pg_insert(table)
                .on_conflict_do_nothing(index_elements=["external_ref"])
                .returning(table.c.id)
            )
        created = conn.execute(_STATEMENTS[key], params).first()
    return None if created is None else int(created[0])


def _direct_insert(table: Table) -> DirectWrite:
    """Every column but the key as a parameter (none of these tables has
    column defaults, so one left out is NULL either way), run on SQLite's
    connection directly: the write phase's INSERTs are most of its work."""
    values = {c.key: bindparam(c.key, type_=c.type) for c in table.c if c.key != "id"}
    return DirectWrite(
        sqlite_insert(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["external_ref"])
        .returning(table.c.id)
    )


_DIRECT_INSERTS = {t.name: _direct_insert(t) for t in (accounts, rev_orgs, rev_users)}


def _by_ref(table: Table) -> Any:
    key = ("by_ref", table.name)
    if key not in _STATEMENTS:
        _STATEMENTS[key] = select(table).where(table.c.external_ref == bindparam("ref"))
    return _STATEMENTS[key]


def _update(
    conn: Connection,
    table: Table,
    row: Row,
    sent: dict[str, Any],
    changes: list[CrmChange] | None = None,
) -> Row:
    changed = changed_columns(row, sent)
    if not changed:
        return row
    conn.execute(
        update(table).where(table.c.id == row["id"]).values(**changed, modified_at=utcnow())
    )
    if changes is not None:
        changes.append(CrmChange("updated", _leaf(table), int(row["id"])))
    return {**row, **changed}


_LEAVES: dict[str, CrmLeaf] = {
    "rev_users": "rev_user",
    "accounts": "account",
    "rev_orgs": "rev_org",
}


def _leaf(table: Table) -> CrmLeaf:
    return _LEAVES[table.name]
