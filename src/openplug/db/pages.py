"""Keyset pages with DevRev's list semantics: ``sort_by`` (``field:asc`` or
``field:desc``, several allowed), ``mode`` (``after`` the cursor, the
default, or ``before`` it) and cursors both ways (``next_cursor``,
``prev_cursor``).

A cursor holds the sort values of the row it stands at, never an offset:
rows written or deleted between two pages move nothing, and each page is
one indexed range query. It also names the sort it was made for, so a
cursor passed back with another ``sort_by`` is refused rather than
silently skipping rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.errors import InvalidField, ValueNotPermitted

Mode = Literal["after", "before"]
Row = Mapping[Any, Any]


@dataclass(frozen=True)
class SortKey:
    name: str  # as the API spells it: created_date, display_name ...
    column: Any
    descending: bool


def parse_sort_by(
    values: Sequence[str] | None,
    sortable: Mapping[str, Any],
    tiebreak: Any,
    field_name: str = "sort_by",
    *,
    default_descending: bool = True,
) -> list[SortKey]:
    """The sort a list call asked for, newest first (``tiebreak``
    descending, unless ``default_descending`` is False) when it asked none.
    ``tiebreak`` (the primary key) always ends the sort, so every row has
    one place."""
    keys: list[SortKey] = []
    for i, raw in enumerate(values or ()):
        name, _, direction = raw.partition(":")
        if name not in sortable:
            raise ValueNotPermitted(
                f"{field_name}[{i}]", f"cannot sort by {name!r}", sorted(sortable)
            )
        if direction not in ("", "asc", "desc"):
            raise ValueNotPermitted(
                f"{field_name}[{i}]", "the direction is asc or desc", ["asc", "desc"]
            )
        keys.append(SortKey(name, sortable[name], direction == "desc"))
    last_descending = keys[-1].descending if keys else default_descending
    keys.append(SortKey("id", tiebreak, last_descending))
    return keys


def _spec(keys: Sequence[SortKey]) -> str:
    return ",".join(f"{k.name}:{'desc' if k.descending else 'asc'}" for k in keys)


def _encode_value(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(str(value["t"]))
    return value


def encode_cursor(keys: Sequence[SortKey], row: Row) -> str:
    values = [_encode_value(row[k.column.key]) for k in keys]
    raw = json.dumps({"s": _spec(keys), "k": values}, separators=(",", ":"))
    return "p2" + base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    try:
        if not cursor.startswith("p2"):
            raise ValueError
        body = cursor[2:]
        raw = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        values = raw["k"]
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError
        decoded = [_decode_value(v) for v in values]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise InvalidField("cursor", "not a cursor this server handed out") from None
    if raw.get("s") != _spec(keys):
        raise InvalidField("cursor", "made for another sort_by; send the sort_by it came with")
    return decoded


def _beyond(
    keys: Sequence[SortKey], values: Sequence[Any], *, reverse: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in the sort (before, ``reverse``)."""
    clauses = []
    for i, key in enumerate(keys):
        later = key.column < values[i] if key.descending != reverse else key.column > values[i]
        equal = [keys[j].column == values[j] for j in range(i)]
        clauses.append(and_(*equal, later))
    return or_(*clauses)


@dataclass(frozen=True)
class Page:
    rows: list[Row]
    next_cursor: str | None
    prev_cursor: str | None

    def cursors(self) -> dict[str, str]:
        """The cursors a list answer carries, left out when there is none."""
        out: dict[str, str] = {}
        if self.next_cursor is not None:
            out["next_cursor"] = self.next_cursor
        if self.prev_cursor is not None:
            out["prev_cursor"] = self.prev_cursor
        return out


async def fetch_page(
    conn: AsyncConnection,
    query: Select[Any],
    keys: Sequence[SortKey],
    *,
    cursor: str | None,
    mode: Mode | None,
    limit: int,
) -> Page:
    backwards = mode == "before"
    if cursor is not None:
        query = query.where(_beyond(keys, decode_cursor(cursor, keys), reverse=backwards))
    order = [(k.column.desc() if k.descending != backwards else k.column.asc()) for k in keys]
    rows: list[Row] = [
        r._mapping for r in (await conn.execute(query.order_by(*order).limit(limit + 1))).all()
    ]
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    if not rows:
        return Page([], None, None)
    has_next, has_prev = (cursor is not None, more) if backwards else (more, cursor is not None)
    return Page(
        rows,
        encode_cursor(keys, rows[-1]) if has_next else None,
        encode_cursor(keys, rows[0]) if has_prev else None,
    )
