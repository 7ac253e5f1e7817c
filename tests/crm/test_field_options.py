"""DevRev's per-type options of a custom field (``gt``/``lte`` on ints,
``min_len``/``pattern``/... on text, ``min_items``/... on arrays and
``default_value`` on every type): the rule without HTTP, then what
``schemas.custom.set`` keeps and refuses and what identify, ``*.create``
and ``*.update`` then accept."""

from __future__ import annotations

from typing import Any

import pytest

from openplug.crm.custom_fields import FieldDef, check_value, with_defaults
from openplug.errors import CustomizationValidationError
from tests.crm.test_custom_fields import (
    custom_error,
    declare,
    field_named,
    fragment,
    identify,
    identify_raw,
    record,
    rev_info,
    schema_set,
)
from tests.live_server import LiveServer


def field(field_type: str, base_type: str | None = None, **options: Any) -> FieldDef:
    return FieldDef("rev_user", "f", field_type, base_type, None, False, None, False,
                    options=options)  # fmt: skip


def reason(d: FieldDef, value: Any) -> str | None:
    try:
        check_value(d, value, "v")
    except CustomizationValidationError as e:
        assert e.extra["subtype"] == "invalid_argument"
        return e.message
    return None


# --- the rule ----------------------------------------------------------------------------


def test_int_bounds() -> None:
    d = field("int", gt=0, lte=10)
    assert reason(d, 1) is None and reason(d, 10) is None
    assert reason(d, 0) == "v must be more than 0"
    assert reason(d, 11) == "v must be at most 10"
    assert reason(field("int", gte=5, lt=7), 7) == "v must be less than 7"
    assert reason(field("int", gte=5, lt=7), 4) == "v must be at least 5"


def test_text_options() -> None:
    assert reason(field("text", min_len=2), "a") == "v is shorter than 2"
    assert reason(field("rich_text", max_len=2), "abc") == "v is longer than 2"
    assert reason(field("tokens", eq_len=3), "ab") == "v must be exactly 3 long"
    assert reason(field("text", prefix="AB-"), "XY-1") == "v must start with 'AB-'"
    assert reason(field("text", suffix="!"), "hi") == "v must end with '!'"
    assert reason(field("text", contains="@"), "hi") == "v must contain '@'"
    assert reason(field("text", pattern="^[A-Z]{3}$"), "ABCD") == "v must match '^[A-Z]{3}$'"
    assert reason(field("text", pattern="[0-9]"), "a1b") is None  # found anywhere


def test_array_sizes_and_the_options_of_each_item() -> None:
    d = field("array", "int", min_items=1, max_items=2, gte=0)
    assert reason(d, [0, 5]) is None
    assert reason(d, []) == "v must have at least 1 items"
    assert reason(d, [1, 2, 3]) == "v must have at most 2 items"
    assert reason(d, [1, -1]) == "v[1] must be at least 0"
    assert reason(field("array", "text", eq_items=1), ["a", "b"]) == "v must have exactly 1 items"


def test_defaults_fill_only_what_a_new_record_lacks() -> None:
    defs = {"a": FieldDef("rev_user", "a", "int", None, None, False, None, False,
                          options={"default_value": 3}),
            "b": field("text")}  # fmt: skip
    assert with_defaults({}, defs) == {"tnt__a": 3}
    assert with_defaults({"tnt__a": 9}, defs) == {"tnt__a": 9}
    assert with_defaults({"tnt__a": None}, defs) == {"tnt__a": 3}


# --- over HTTP ---------------------------------------------------------------------------

FIELDS: list[dict[str, Any]] = [
    {"name": "seats", "field_type": "int", "gte": 1, "lte": 10},
    {"name": "code", "field_type": "text", "pattern": "^[A-Z]{3}$", "default_value": "AAA"},
    {"name": "labels", "field_type": "array", "base_type": "text", "max_items": 2,
     "max_len": 5},
    {"name": "plan", "field_type": "enum", "allowed_values": ["free", "pro"],
     "default_value": "free", "is_required": True, "is_overridable": True,
     "translated_values": {"fr": {"free": "gratuit"}}},
]  # fmt: skip


def test_options_are_kept_returned_and_enforced(any_server: LiveServer) -> None:
    server = any_server
    declare(server, "rev_user", FIELDS)
    seats = field_named(fragment(server, "rev_user"), "seats")
    assert (seats["gte"], seats["lte"]) == (1, 10)
    plan = field_named(fragment(server, "rev_user"), "plan")
    assert plan["default_value"] == "free"
    assert "is_overridable" not in plan and "translated_values" not in plan

    path = "rev_info.user_traits.custom_fields"
    for sent, bad in (({"tnt__seats": 0}, "tnt__seats"),
                      ({"tnt__code": "abc"}, "tnt__code"),
                      ({"tnt__labels": ["a", "b", "c"]}, "tnt__labels"),
                      ({"tnt__labels": ["a", "toolong"]}, "tnt__labels[1]")):  # fmt: skip
        custom_error(identify_raw(server, rev_info("rev_user", sent)), f"{path}.{bad}",
                     "invalid_argument")  # fmt: skip
    # A required field with a default is satisfied by it.
    identify(server, rev_info("rev_user", {"tnt__seats": 3}))
    assert record(server, "rev_user")["custom_fields"] == {
        "tnt__seats": 3, "tnt__code": "AAA", "tnt__plan": "free"
    }  # fmt: skip
    # A later identify is no create: a value cleared stays cleared.
    identify(server, rev_info("rev_user", {"tnt__code": None}))
    assert "tnt__code" not in record(server, "rev_user")["custom_fields"]

    user_id = record(server, "rev_user")["id"]
    with server.client(server.pat) as c:
        r = c.post("/rev-users.update", json={"id": user_id, "custom_fields": {"tnt__seats": 11}})
        custom_error(r, "custom_fields.tnt__seats", "invalid_argument")
        r = c.post("/rev-users.create", json={"external_ref": "bo", "custom_fields": {}})
        assert r.status_code == 201, r.text
        assert r.json()["rev_user"]["custom_fields"] == {"tnt__code": "AAA", "tnt__plan": "free"}


def test_accounts_update_enforces_options(server: LiveServer) -> None:
    declare(server, "account", [{"name": "tier", "field_type": "text", "prefix": "T-"}])
    with server.client(server.pat) as c:
        r = c.post("/accounts.create", json={"display_name": "Acme",
                                             "custom_fields": {"tnt__tier": "gold"}})  # fmt: skip
        custom_error(r, "custom_fields.tnt__tier", "invalid_argument")
        made = c.post("/accounts.create", json={"display_name": "Acme",
                                                "custom_fields": {"tnt__tier": "T-1"}})  # fmt: skip
        assert made.status_code == 201, made.text
        r = c.post("/accounts.update", json={"id": made.json()["account"]["id"],
                                             "custom_fields": {"tnt__tier": "x"}})  # fmt: skip
        custom_error(r, "custom_fields.tnt__tier", "invalid_argument")


BAD_OPTIONS = [
    ("gt-on-text", {"name": "p", "field_type": "text", "gt": 1}, "fields[0].gt"),
    ("max-len-on-int", {"name": "p", "field_type": "int", "max_len": 1}, "fields[0].max_len"),
    ("items-on-scalar", {"name": "p", "field_type": "text", "min_items": 1},
     "fields[0].min_items"),
    ("len-on-bool-items", {"name": "p", "field_type": "array", "base_type": "bool",
                           "min_len": 1}, "fields[0].min_len"),
    ("bad-pattern", {"name": "p", "field_type": "text", "pattern": "(["}, "fields[0].pattern"),
    ("default-wrong-type", {"name": "p", "field_type": "int", "default_value": "x"},
     "fields[0].default_value"),
    ("default-breaks-option", {"name": "p", "field_type": "int", "gt": 5, "default_value": 1},
     "fields[0].default_value"),
    ("default-not-allowed", {"name": "p", "field_type": "enum", "allowed_values": ["a"],
                             "default_value": "b"}, "fields[0].default_value"),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "field_name"), [b[1:] for b in BAD_OPTIONS],
                         ids=[b[0] for b in BAD_OPTIONS])  # fmt: skip
def test_options_that_mean_nothing_for_the_type_are_refused(
    server: LiveServer, spec: dict[str, Any], field_name: str
) -> None:
    r = schema_set(server, "rev_user", [spec])
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "invalid_field", r.json()
    assert r.json()["field_name"] == field_name, r.json()
    with server.client(server.pat) as c:
        assert c.get("/schemas.custom.list").json()["result"] == []
