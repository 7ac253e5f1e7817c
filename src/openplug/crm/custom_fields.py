"""Custom attributes: typed ``tnt__`` fields declared per object type, and
the validation of values sent for them."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from sqlalchemy import Connection, Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.crm.fields import LongText, ShortText, Strict, ignored
from openplug.crm.tables import (
    accounts,
    custom_field_defs,
    custom_fragments,
    rev_orgs,
    rev_users,
)
from openplug.db.base import utcnow
from openplug.db.sqlite_writes import batch_memo
from openplug.errors import Conflict, CustomizationValidationError, InvalidField

LeafType = Literal["rev_user", "account", "rev_org"]
LEAF_TABLES = {"rev_user": rev_users, "account": accounts, "rev_org": rev_orgs}
SCALAR_TYPES = ("text", "rich_text", "int", "double", "bool", "enum", "date", "timestamp", "tokens")
FieldType = Literal[
    "text", "rich_text", "int", "double", "bool", "enum", "date", "timestamp", "tokens", "array"
]
BaseType = Literal[
    "text", "rich_text", "int", "double", "bool", "enum", "date", "timestamp", "tokens"
]
PREFIX = "tnt__"
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_TEXT_LIMITS = {"text": 4096, "tokens": 4096, "rich_text": 32768}
_INT64 = 2**63
Int64 = Annotated[int, Field(ge=-_INT64, lt=_INT64)]
Size = Annotated[int, Field(ge=0, lt=_INT64)]

# DevRev's per-type descriptor options, by the (base) types they apply to.
_SCALAR_OPTIONS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("gt", "gte", "lt", "lte"), frozenset({"int"})),
    **dict.fromkeys(
        ("min_len", "max_len", "eq_len", "prefix", "suffix", "contains", "pattern"),
        frozenset(_TEXT_LIMITS),
    ),
}
_ARRAY_OPTIONS = ("min_items", "max_items", "eq_items")
OPTIONS = (*_SCALAR_OPTIONS, *_ARRAY_OPTIONS, "default_value")


class FieldSpec(Strict):
    name: str
    field_type: FieldType
    base_type: BaseType | None = None
    allowed_values: list[str] | None = Field(default=None, max_length=500)
    is_required: bool = False
    description: LongText | None = None
    is_filterable: bool = False
    is_pii: bool = False
    is_immutable: bool = Field(
        default=False, description="Once a record has a value, it cannot change"
    )
    ui: Annotated[dict[str, Any], Field(max_length=50)] | None = Field(
        default=None, description="DevRev's `schema-field-ui-metadata`, kept as sent"
    )
    default_value: Any = Field(
        default=None, description="Given to a record created without a value for the field"
    )
    gt: Int64 | None = Field(default=None, description="int: values above this")
    gte: Int64 | None = Field(default=None, description="int: values at least this")
    lt: Int64 | None = Field(default=None, description="int: values below this")
    lte: Int64 | None = Field(default=None, description="int: values at most this")
    min_len: Size | None = Field(default=None, description="text, rich_text, tokens")
    max_len: Size | None = Field(default=None, description="text, rich_text, tokens")
    eq_len: Size | None = Field(default=None, description="text, rich_text, tokens")
    prefix: ShortText | None = Field(default=None, description="text, rich_text, tokens")
    suffix: ShortText | None = Field(default=None, description="text, rich_text, tokens")
    contains: ShortText | None = Field(default=None, description="text, rich_text, tokens")
    pattern: ShortText | None = Field(
        default=None, description="text, rich_text, tokens: a Python regular expression, "
        "found anywhere in the value (anchor it with ^ and $ to match the whole)",
    )  # fmt: skip
    min_items: Size | None = Field(default=None, description="arrays: at least this many")
    max_items: Size | None = Field(default=None, description="arrays: at most this many")
    eq_items: Size | None = Field(default=None, description="arrays: exactly this many")
    is_overridable: bool | None = ignored()
    translated_values: dict[str, Any] | None = ignored()
    mfz: dict[str, Any] | None = ignored()
    oasis: dict[str, Any] | None = ignored()
    origin: ShortText | None = ignored()

    @field_validator("name")
    @classmethod
    def _strip_prefix(cls, value: str) -> str:
        name = value.removeprefix(PREFIX)
        if not _NAME.match(name):
            raise ValueError(
                "field names are lower-case letters, digits and _, starting with a letter"
            )
        return name


class SchemaSetRequest(Strict):
    type: Literal["tenant_fragment"]
    leaf_type: LeafType
    description: LongText | None = None
    fields: list[FieldSpec] = Field(default_factory=list, max_length=200)
    deleted_fields: list[str] = Field(default_factory=list, max_length=200)
    composite_schemas: list[dict[str, Any]] | None = ignored()
    conditions: list[dict[str, Any]] | None = ignored()
    deprecated: bool | None = ignored()
    is_deprecated: bool | None = ignored()
    is_custom_leaf_type: bool | None = ignored()
    id_prefix: ShortText | None = ignored()
    stock_field_overrides: list[dict[str, Any]] | None = ignored()


@dataclass(frozen=True)
class FieldDef:
    leaf_type: str
    name: str
    field_type: str
    base_type: str | None
    allowed_values: list[str] | None
    is_required: bool
    description: str | None
    is_deleted: bool
    is_filterable: bool = False
    is_pii: bool = False
    is_immutable: bool = False
    ui: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return PREFIX + self.name


FieldDefs = dict[str, FieldDef]  # by name without prefix


def _def_from_row(row: Row[Any]) -> FieldDef:
    m = row._mapping
    return FieldDef(
        leaf_type=m["leaf_type"],
        name=m["name"],
        field_type=m["field_type"],
        base_type=m["base_type"],
        allowed_values=m["allowed_values"],
        is_required=m["is_required"],
        description=m["description"],
        is_deleted=m["is_deleted"],
        is_filterable=m["is_filterable"],
        is_pii=m["is_pii"],
        is_immutable=m["is_immutable"],
        ui=m["ui"],
        options=dict(m["options"] or {}),
    )


async def load_field_defs(conn: AsyncConnection, leaf_type: str) -> FieldDefs:
    rows = await conn.execute(
        select(custom_field_defs).where(custom_field_defs.c.leaf_type == leaf_type)
    )
    return {d.name: d for d in map(_def_from_row, rows)}


def load_all_field_defs(conn: Connection) -> dict[str, FieldDefs]:
    """Every leaf type's definitions, in one query (synchronous: it runs in
    identify's write transaction, or through ``AsyncConnection.run_sync``)."""
    memo = batch_memo(conn)
    if memo is not None and "field_defs" in memo:
        return memo["field_defs"]  # type: ignore[no-any-return]
    defs: dict[str, FieldDefs] = {leaf_type: {} for leaf_type in LEAF_TABLES}
    for d in map(_def_from_row, conn.execute(select(custom_field_defs))):
        defs[d.leaf_type][d.name] = d
    if memo is not None:
        memo["field_defs"] = defs
    return defs


# --- values -----------------------------------------------------------------


def _fail(subtype: str, path: str, message: str) -> CustomizationValidationError:
    return CustomizationValidationError(subtype, path, message)


Checks = tuple[tuple[str, Callable[[Any], bool], str], ...]


def _broken(options: dict[str, Any], checks: Checks) -> str | None:
    """The reason for the first of the field's options the value breaks."""
    for name, holds, reason in checks:
        if name in options and not holds(options[name]):
            return reason.format(options[name])
    return None


def _text_problem(options: dict[str, Any], value: str) -> str | None:
    n = len(value)
    return _broken(options, (
        ("min_len", lambda v: n >= v, "is shorter than {}"),
        ("max_len", lambda v: n <= v, "is longer than {}"),
        ("eq_len", lambda v: n == v, "must be exactly {} long"),
        ("prefix", value.startswith, "must start with {!r}"),
        ("suffix", value.endswith, "must end with {!r}"),
        ("contains", lambda v: v in value, "must contain {!r}"),
        ("pattern", lambda v: re.search(v, value) is not None, "must match {!r}"),
    ))  # fmt: skip


def _int_problem(options: dict[str, Any], value: int) -> str | None:
    return _broken(options, (
        ("gt", lambda v: value > v, "must be more than {}"),
        ("gte", lambda v: value >= v, "must be at least {}"),
        ("lt", lambda v: value < v, "must be less than {}"),
        ("lte", lambda v: value <= v, "must be at most {}"),
    ))  # fmt: skip


def _items_problem(options: dict[str, Any], count: int) -> str | None:
    return _broken(options, (
        ("min_items", lambda v: count >= v, "must have at least {} items"),
        ("max_items", lambda v: count <= v, "must have at most {} items"),
        ("eq_items", lambda v: count == v, "must have exactly {} items"),
    ))  # fmt: skip


def _check_scalar(field_type: str, d: FieldDef, value: Any, path: str) -> Any:
    if field_type in _TEXT_LIMITS:
        if not isinstance(value, str):
            raise _fail("wrong_type", path, f"{path} must be a string")
        if len(value) > _TEXT_LIMITS[field_type]:
            limit = _TEXT_LIMITS[field_type]
            raise _fail("invalid_argument", path, f"{path} is longer than {limit}")
        if (problem := _text_problem(d.options, value)) is not None:
            raise _fail("invalid_argument", path, f"{path} {problem}")
        return value
    if field_type == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not -_INT64 <= value < _INT64:
            raise _fail("wrong_type", path, f"{path} must be a 64-bit integer")
        if (problem := _int_problem(d.options, value)) is not None:
            raise _fail("invalid_argument", path, f"{path} {problem}")
        return value
    if field_type == "double":
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise _fail("wrong_type", path, f"{path} must be a finite number")
        return float(value)
    if field_type == "bool":
        if not isinstance(value, bool):
            raise _fail("wrong_type", path, f"{path} must be true or false")
        return value
    if field_type == "enum":
        allowed = d.allowed_values or []
        if not isinstance(value, str) or value not in allowed:
            raise _fail("enum_out_of_range", path, f"{path} must be one of {allowed}")
        return value
    if field_type == "date":
        try:
            if not isinstance(value, str) or len(value) != 10:
                raise ValueError
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise _fail(
                "date_parse_error", path, f"{path} must be a date like 2024-05-31"
            ) from None
    if field_type == "timestamp":
        try:
            if not isinstance(value, str):
                raise ValueError
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError
        except ValueError:
            raise _fail(
                "timestamp_parse_error",
                path,
                f"{path} must be an RFC 3339 timestamp with a zone, like 2024-05-31T12:00:00Z",
            ) from None
        return parsed.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise AssertionError(field_type)


def check_value(d: FieldDef, value: Any, path: str) -> Any:
    if d.field_type != "array":
        return _check_scalar(d.field_type, d, value, path)
    if not isinstance(value, list) or len(value) > 1000:
        raise _fail("wrong_type", path, f"{path} must be a list of {d.base_type} values")
    if (problem := _items_problem(d.options, len(value))) is not None:
        raise _fail("invalid_argument", path, f"{path} {problem}")
    return [_check_scalar(str(d.base_type), d, v, f"{path}[{i}]") for i, v in enumerate(value)]


def validate_custom_fields(
    values: dict[str, Any], defs: FieldDefs, leaf_type: str, path: str
) -> dict[str, Any]:
    """Normalised values; ``None`` clears a field (unless it is required)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        field_path = f"{path}.{key}"
        if not key.startswith(PREFIX):
            raise _fail(
                "field_not_in_schema", field_path, f"custom field names start with {PREFIX}"
            )
        d = defs.get(key[len(PREFIX) :])
        if d is None or d.is_deleted:
            raise _fail(
                "field_not_in_schema",
                field_path,
                f"{key} is not a defined custom field of {leaf_type} (see schemas.custom.set)",
            )
        if value is None:
            if d.is_required:
                raise _fail("field_required", field_path, f"{key} is required and cannot be null")
        else:
            value = check_value(d, value, field_path)
        out[key] = value
    return out


def check_immutable(
    stored: dict[str, Any], sent: dict[str, Any], defs: FieldDefs, path: str
) -> None:
    """An ``is_immutable`` field keeps the first value a record got."""
    for key, value in sent.items():
        d = defs.get(key[len(PREFIX) :])
        old = stored.get(key)
        if d is not None and d.is_immutable and old is not None and value != old:
            raise _fail("field_immutable", f"{path}.{key}", f"{key} is immutable once set")


def with_defaults(values: dict[str, Any], defs: FieldDefs) -> dict[str, Any]:
    """A new record's custom fields: each field it got no value for takes
    the field's ``default_value``, when it has one."""
    out = dict(values)
    for d in defs.values():
        if not d.is_deleted and "default_value" in d.options and out.get(d.key) is None:
            out[d.key] = d.options["default_value"]
    return out


def check_required_on_create(values: dict[str, Any], defs: FieldDefs, path: str) -> None:
    for d in defs.values():
        if d.is_required and not d.is_deleted and values.get(d.key) is None:
            raise _fail("field_required", f"{path}.{d.key}", f"{d.key} is required")


# --- schema fragments -------------------------------------------------------


async def _has_stored_values(conn: AsyncConnection, leaf_type: str, key: str) -> bool:
    table = LEAF_TABLES[leaf_type]
    stored = table.c.custom_fields[key].as_string()
    count = await conn.scalar(select(func.count()).select_from(table).where(stored.is_not(None)))
    return bool(count)


async def set_schema_fragment(conn: AsyncConnection, req: SchemaSetRequest) -> None:
    """Create or change the listed fields; mark ``deleted_fields`` deleted.

    Fields not mentioned stay as they are. Changing a field's type while
    values are stored is refused: those values would stop meaning anything.
    """
    now = utcnow()
    defs = await load_field_defs(conn, req.leaf_type)
    seen: set[str] = set()
    for i, spec in enumerate(req.fields):
        path = f"fields[{i}]"
        if spec.name in seen:
            raise InvalidField(f"{path}.name", f"{spec.name} is listed twice")
        seen.add(spec.name)
        _check_spec(spec, path)
        values = {
            "options": _options(spec, req.leaf_type, path),
            "field_type": spec.field_type,
            "base_type": spec.base_type,
            "allowed_values": spec.allowed_values,
            "is_required": spec.is_required,
            "description": spec.description,
            "is_filterable": spec.is_filterable,
            "is_pii": spec.is_pii,
            "is_immutable": spec.is_immutable,
            "ui": spec.ui,
            "is_deleted": False,
            "modified_at": now,
        }
        old = defs.get(spec.name)
        if old is None:
            await conn.execute(
                custom_field_defs.insert().values(
                    leaf_type=req.leaf_type, name=spec.name, created_at=now, **values
                )
            )
            continue
        type_changes = (old.field_type, old.base_type) != (spec.field_type, spec.base_type)
        if type_changes and await _has_stored_values(conn, req.leaf_type, old.key):
            raise Conflict(
                f"{old.key} has stored values of type {old.field_type}; "
                "its type cannot change while they exist",
                field_name=f"{path}.field_type",
            )
        await conn.execute(
            update(custom_field_defs)
            .where(custom_field_defs.c.leaf_type == req.leaf_type)
            .where(custom_field_defs.c.name == spec.name)
            .values(**values)
        )
    for i, raw in enumerate(req.deleted_fields):
        name = raw.removeprefix(PREFIX)
        if name in seen or name not in defs:
            raise InvalidField(f"deleted_fields[{i}]", f"{raw} is not a field that can be deleted")
        await conn.execute(
            update(custom_field_defs)
            .where(custom_field_defs.c.leaf_type == req.leaf_type)
            .where(custom_field_defs.c.name == name)
            .values(is_deleted=True, modified_at=now)
        )
    await _touch_fragment(conn, req.leaf_type, req.description, now)


def _check_spec(spec: FieldSpec, path: str) -> None:
    enum_like = spec.field_type == "enum" or (
        spec.field_type == "array" and spec.base_type == "enum"
    )
    if spec.field_type == "array" and spec.base_type is None:
        raise InvalidField(f"{path}.base_type", "an array field needs base_type")
    if spec.field_type != "array" and spec.base_type is not None:
        raise InvalidField(f"{path}.base_type", "base_type applies only to array fields")
    if enum_like and not spec.allowed_values:
        raise InvalidField(f"{path}.allowed_values", "an enum field needs allowed_values")
    if not enum_like and spec.allowed_values is not None:
        raise InvalidField(f"{path}.allowed_values", "allowed_values applies only to enum fields")


def _options(spec: FieldSpec, leaf_type: str, path: str) -> dict[str, Any]:
    """The DevRev options ``spec`` sets, each checked to mean something for
    its type; ``default_value`` must itself be a valid value."""
    item_type = spec.base_type if spec.field_type == "array" else spec.field_type
    options: dict[str, Any] = {}
    for name in OPTIONS:
        value = getattr(spec, name)
        if value is None:
            continue
        if name in _SCALAR_OPTIONS and item_type not in _SCALAR_OPTIONS[name]:
            types = ", ".join(sorted(_SCALAR_OPTIONS[name]))
            raise InvalidField(f"{path}.{name}", f"{name} applies only to {types} fields")
        if name in _ARRAY_OPTIONS and spec.field_type != "array":
            raise InvalidField(f"{path}.{name}", f"{name} applies only to array fields")
        if name == "pattern":
            try:
                re.compile(value)
            except re.error as e:
                raise InvalidField(f"{path}.pattern", f"not a regular expression: {e}") from None
        options[name] = value
    if "default_value" in options:
        d = FieldDef(
            leaf_type, spec.name, spec.field_type, spec.base_type, spec.allowed_values,
            spec.is_required, None, is_deleted=False, options=options,
        )  # fmt: skip
        try:
            options["default_value"] = check_value(d, options["default_value"], "default_value")
        except CustomizationValidationError as e:
            raise InvalidField(f"{path}.default_value", e.message) from None
    return options


async def _touch_fragment(
    conn: AsyncConnection, leaf_type: str, description: str | None, now: datetime
) -> None:
    exists = await conn.scalar(
        select(custom_fragments.c.leaf_type).where(custom_fragments.c.leaf_type == leaf_type)
    )
    if exists is None:
        await conn.execute(
            custom_fragments.insert().values(
                leaf_type=leaf_type, description=description, created_at=now, modified_at=now
            )
        )
    else:
        values: dict[str, Any] = {"modified_at": now}
        if description is not None:
            values["description"] = description
        await conn.execute(
            update(custom_fragments)
            .where(custom_fragments.c.leaf_type == leaf_type)
            .values(**values)
        )


@dataclass(frozen=True)
class Fragment:
    leaf_type: str
    description: str | None
    created_at: datetime
    modified_at: datetime
    fields: list[FieldDef]


async def get_fragment(conn: AsyncConnection, leaf_type: str) -> Fragment | None:
    row = (
        await conn.execute(
            select(custom_fragments).where(custom_fragments.c.leaf_type == leaf_type)
        )
    ).first()
    if row is None:
        return None
    defs = await load_field_defs(conn, leaf_type)
    m = row._mapping
    return Fragment(
        leaf_type, m["description"], m["created_at"], m["modified_at"], list(defs.values())
    )


async def list_fragments(conn: AsyncConnection) -> list[Fragment]:
    out = []
    for leaf_type in LEAF_TABLES:
        fragment = await get_fragment(conn, leaf_type)
        if fragment is not None:
            out.append(fragment)
    return out
