"""The rules of tags: one name per org, DevRev's ``allowed_values``, the
audit record of each change, and how a conversation's ``tags[].id`` is
read back (a tag's id, or free-form text as before ``tags.*`` existed).

Every function takes the caller's connection, so a change, its audit
record and (for a delete) the conversations it is removed from commit
together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import String, cast, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.audit import Actor, record
from openplug.conversations.tables import conversations
from openplug.db.base import rfc3339, utcnow
from openplug.db.pages import Page, fetch_page, parse_sort_by
from openplug.errors import Conflict, InvalidField, NotFound, ValueNotPermitted
from openplug.ids import TAG, display_id, don, parse_int_key
from openplug.tags import refs
from openplug.tags.tables import tags

Row = Mapping[Any, Any]


def tag_key(value: str, field_name: str = "id") -> int:
    return parse_int_key(value, TAG, field_name)


def tag_json(org_id: str, row: Row) -> dict[str, Any]:
    """DevRev's ``tag``; ``description`` left out when there is none."""
    key = int(row["id"])
    out: dict[str, Any] = {
        "id": don(org_id, TAG, key),
        "display_id": display_id(TAG, key),
        "name": row["name"],
        "allowed_values": list(row["allowed_values"]),
        "created_date": rfc3339(row["created_at"]),
        "modified_date": rfc3339(row["modified_at"]),
    }
    if row["description"] is not None:
        out["description"] = row["description"]
    return out


def summary(org_id: str, key: int, name: str) -> dict[str, Any]:
    """DevRev's ``tag-summary``."""
    return {"id": don(org_id, TAG, key), "display_id": display_id(TAG, key), "name": name}


def _name(value: str, field_name: str = "name") -> str:
    name = value.strip()
    if not name:
        raise InvalidField(field_name, "must not be empty")
    return name


def _allowed(values: Sequence[str], field_name: str) -> list[str]:
    for i, v in enumerate(values):
        if not v.strip():
            raise InvalidField(f"{field_name}[{i}]", "must not be empty")
    return list(dict.fromkeys(values))


# --- reading ----------------------------------------------------------------------


async def get_tag(conn: AsyncConnection, key: int) -> Row:
    row = (await conn.execute(select(tags).where(tags.c.id == key))).first()
    if row is None:
        raise NotFound("tag not found")
    return row._mapping


async def list_tags(
    conn: AsyncConnection,
    *,
    names: Sequence[str] | None,
    sort_by: Sequence[str] | None,
    cursor: str | None,
    mode: Any,
    limit: int,
) -> Page:
    """Oldest first by default (a settings list, read top to bottom)."""
    sortable = {"name": tags.c.name, "created_date": tags.c.created_at,
                "modified_date": tags.c.modified_at}  # fmt: skip
    keys = parse_sort_by(sort_by, sortable, tags.c.id, default_descending=False)
    query = select(tags)
    if names:
        query = query.where(tags.c.name.in_(names))
    return await fetch_page(conn, query, keys, cursor=cursor, mode=mode, limit=limit)


async def names_of(conn: AsyncConnection, keys: Iterable[int]) -> dict[int, str]:
    wanted = set(keys)
    if not wanted:
        return {}
    rows = await conn.execute(select(tags.c.id, tags.c.name).where(tags.c.id.in_(wanted)))
    return {int(r.id): str(r.name) for r in rows}


def value_problem(allowed: Sequence[str], value: str) -> str | None:
    """Why ``value`` may not go with a tag of these ``allowed_values``
    (DevRev: a value must be one of them; with none, no value is given)."""
    if not allowed:
        return "this tag has no allowed_values, so it takes no value"
    if value not in allowed:
        return "not one of the tag's allowed_values"
    return None


async def check_tag_values(
    conn: AsyncConnection, sent: Sequence[Mapping[str, Any]], path: str
) -> None:
    """Refuse a conversation's ``tags[i].value`` that its tag does not
    allow. Free-form ids (no tag's DON or display id) keep taking any value,
    as before ``tags.*``; an id in a tag's form that names no tag has no
    allowed values to check against, so it takes none."""
    valued = [(i, t, refs.key_named_by(str(t["id"]))) for i, t in enumerate(sent) if t.get("value")]
    keys = {key for _, _, key in valued if key is not None}
    if not keys:
        return
    rows = await conn.execute(select(tags.c.id, tags.c.allowed_values).where(tags.c.id.in_(keys)))
    allowed = {int(r.id): list(r.allowed_values) for r in rows}
    for i, t, key in valued:
        if key is None:
            continue
        field_name = f"{path}[{i}].value"
        if key not in allowed:
            raise ValueNotPermitted(field_name, f"{t['id']} names no tag, so it takes no value")
        problem = value_problem(allowed[key], str(t["value"]))
        if problem is not None:
            raise ValueNotPermitted(field_name, problem, allowed_values=allowed[key] or None)


# --- writing ----------------------------------------------------------------------


async def _name_taken(conn: AsyncConnection, name: str, but: int | None = None) -> bool:
    query = select(tags.c.id).where(tags.c.name == name)
    if but is not None:
        query = query.where(tags.c.id != but)
    return (await conn.execute(query)).first() is not None


def _duplicate(name: str) -> Conflict:
    return Conflict(f"a tag named {name!r} already exists")


async def create_tag(
    conn: AsyncConnection,
    *,
    name: str,
    description: str | None,
    allowed_values: Sequence[str],
    actor: Actor,
) -> Row:
    name = _name(name)
    if await _name_taken(conn, name):
        raise _duplicate(name)
    now = utcnow()
    try:
        key = (
            await conn.execute(
                insert(tags)
                .values(
                    name=name,
                    description=description,
                    allowed_values=_allowed(allowed_values, "allowed_values"),
                    created_by=actor.key,
                    modified_by=actor.key,
                    created_at=now,
                    modified_at=now,
                )
                .returning(tags.c.id)
            )
        ).scalar_one()
    except IntegrityError:
        # Two creates of one name at once: the unique index decides, and
        # the loser's transaction rolls back whole.
        raise _duplicate(name) from None
    await record(conn, actor, "tag.created", display_id(TAG, int(key)), {"name": name})
    return await get_tag(conn, int(key))


async def update_tag(
    conn: AsyncConnection,
    key: int,
    *,
    name: str | None = None,
    description: str | None = None,
    allowed_values: Sequence[str] | None = None,
    actor: Actor,
) -> Row:
    row = await get_tag(conn, key)
    values: dict[str, Any] = {}
    if name is not None and _name(name) != row["name"]:
        values["name"] = _name(name)
        if await _name_taken(conn, values["name"], but=key):
            raise _duplicate(values["name"])
    if description is not None and description != row["description"]:
        values["description"] = description
    if allowed_values is not None:
        allowed = _allowed(allowed_values, "allowed_values.set")
        if allowed != list(row["allowed_values"]):
            values["allowed_values"] = allowed
    if not values:
        return row
    try:
        await conn.execute(
            update(tags).where(tags.c.id == key)
            .values(**values, modified_by=actor.key, modified_at=utcnow())
        )  # fmt: skip
    except IntegrityError:
        raise _duplicate(str(values.get("name", row["name"]))) from None
    await record(
        conn, actor, "tag.updated", display_id(TAG, key),
        {"name": values.get("name", row["name"]), "changed": sorted(values)},
    )  # fmt: skip
    return await get_tag(conn, key)


async def delete_tag(conn: AsyncConnection, org_id: str, key: int, *, actor: Actor) -> int:
    """Delete the tag and take it off every conversation that names it (by
    its DON or display id); the number of conversations changed."""
    row = await get_tag(conn, key)
    forms = {don(org_id, TAG, key), display_id(TAG, key)}
    c = conversations.c
    text = cast(c.tags, String)
    # The JSON text narrows the candidates; the exact check is below.
    candidates = await conn.execute(
        select(c.id, c.tags).where(
            or_(*(text.contains(json.dumps(f), autoescape=True) for f in forms))
        )
    )
    changed = 0
    for conv in candidates.all():
        kept = [t for t in conv.tags if str(t.get("id")) not in forms]
        if len(kept) != len(conv.tags):
            await conn.execute(update(conversations).where(c.id == conv.id).values(tags=kept))
            changed += 1
    await conn.execute(delete(tags).where(tags.c.id == key))
    await record(
        conn, actor, "tag.deleted", display_id(TAG, key),
        {"name": row["name"], "conversations": changed},
    )  # fmt: skip
    return changed
