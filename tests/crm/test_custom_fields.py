"""Custom attributes: declaring typed ``tnt__`` fields with
``schemas.custom.*`` and what identify accepts, stores and refuses for
them on rev users, accounts and workspaces (rev orgs)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.live_server import LiveServer

SESSION = "/auth-tokens.create"


# leaf type -> (traits key in rev_info, list path, ref filter, list key, ref)
LEAVES: dict[str, tuple[str, str, str, str, str]] = {
    "rev_user": ("user_traits", "/rev-users.list", "external_ref", "rev_users", "ann"),
    "account": ("account_traits", "/accounts.list", "external_refs", "accounts", "acme"),
    "rev_org": ("workspace_traits", "/rev-orgs.list", "external_ref", "rev_orgs", "acme-dev"),
}

ALL_TYPES: list[dict[str, Any]] = [
    {"name": "note", "field_type": "text", "description": "free text"},
    {"name": "bio", "field_type": "rich_text"},
    {"name": "seats", "field_type": "int"},
    {"name": "score", "field_type": "double"},
    {"name": "active", "field_type": "bool"},
    {"name": "plan", "field_type": "enum", "allowed_values": ["free", "pro"]},
    {"name": "renews", "field_type": "date"},
    {"name": "seen", "field_type": "timestamp"},
    {"name": "keywords", "field_type": "tokens"},
    {"name": "labels", "field_type": "array", "base_type": "text"},
    {"name": "ranks", "field_type": "array", "base_type": "int"},
]

VALID_VALUES: dict[str, Any] = {
    "tnt__note": "hello",
    "tnt__bio": "**bold** and _italic_",
    "tnt__seats": 42,
    "tnt__score": 2.5,
    "tnt__active": True,
    "tnt__plan": "pro",
    "tnt__renews": "2024-05-31",
    "tnt__seen": "2024-05-31T12:00:00+02:00",
    "tnt__keywords": "alpha beta",
    "tnt__labels": ["a", "b"],
    "tnt__ranks": [1, 2],
}
STORED_VALUES = {**VALID_VALUES, "tnt__seen": "2024-05-31T10:00:00Z"}


# --- helpers ------------------------------------------------------------------------


def schema_set(
    server: LiveServer,
    leaf_type: str,
    fields: list[dict[str, Any]],
    deleted_fields: list[str] | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"type": "tenant_fragment", "leaf_type": leaf_type, "fields": fields}
    if deleted_fields is not None:
        body["deleted_fields"] = deleted_fields
    with server.client(server.pat) as c:
        return c.post("/schemas.custom.set", json=body)


def declare(server: LiveServer, leaf_type: str, fields: list[dict[str, Any]]) -> None:
    r = schema_set(server, leaf_type, fields)
    assert r.status_code == 201, r.text


def rev_info(leaf_type: str, custom_fields: dict[str, Any] | None) -> dict[str, Any]:
    info: dict[str, Any] = {"user_ref": "ann", "account_ref": "acme", "workspace_ref": "acme-dev"}
    if custom_fields is not None:
        info[LEAVES[leaf_type][0]] = {"custom_fields": custom_fields}
    return info


def identify_raw(server: LiveServer, info: dict[str, Any]) -> httpx.Response:
    with server.client(server.aat) as c:
        return c.post(SESSION, json={"rev_info": info})


def identify(server: LiveServer, info: dict[str, Any]) -> None:
    r = identify_raw(server, info)
    assert r.status_code == 201, r.text


def record(server: LiveServer, leaf_type: str) -> dict[str, Any]:
    _, path, ref_filter, key, ref = LEAVES[leaf_type]
    with server.client(server.pat) as c:
        r = c.get(path, params={ref_filter: ref})
    assert r.status_code == 200, r.text
    (found,) = r.json()[key]
    return found


def assert_nothing_written(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        for _, path, _, key, _ in LEAVES.values():
            r = c.get(path)
            assert r.status_code == 200, r.text
            assert r.json()[key] == [], f"{path} is not empty after a refused request"


def custom_error(r: httpx.Response, field_name: str, subtype: str | None = None) -> None:
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["type"] == "customization_validation_error", body
    assert body["field_name"] == field_name, body
    if subtype is not None:
        assert body["subtype"] == subtype, body


def fragment(server: LiveServer, leaf_type: str) -> dict[str, Any]:
    with server.client(server.pat) as c:
        r = c.get("/schemas.custom.get", params={"leaf_type": leaf_type})
    assert r.status_code == 200, r.text
    return r.json()["fragment"]


def field_named(frag: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [f for f in frag["fields"] if f["name"].removeprefix("tnt__") == name]
    return found


# --- every type, on every object ------------------------------------------------------------


@pytest.mark.parametrize("leaf_type", list(LEAVES))
def test_valid_values_of_every_type_are_stored_and_returned(
    server: LiveServer, leaf_type: str
) -> None:
    declare(server, leaf_type, ALL_TYPES)
    identify(server, rev_info(leaf_type, VALID_VALUES))
    assert record(server, leaf_type)["custom_fields"] == STORED_VALUES


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2024-05-31T10:00:00Z", "2024-05-31T10:00:00Z"),
        ("2024-05-31T10:00:00+00:00", "2024-05-31T10:00:00Z"),
        ("2024-05-31T12:00:00+02:00", "2024-05-31T10:00:00Z"),
        ("2024-05-31T23:30:00-01:00", "2024-06-01T00:30:00Z"),
    ],
)
def test_timestamps_are_normalised_to_utc(server: LiveServer, sent: str, stored: str) -> None:
    declare(server, "rev_user", [{"name": "seen", "field_type": "timestamp"}])
    identify(server, rev_info("rev_user", {"tnt__seen": sent}))
    assert record(server, "rev_user")["custom_fields"] == {"tnt__seen": stored}


def test_double_accepts_integers_and_int_accepts_large_values(server: LiveServer) -> None:
    declare(
        server,
        "rev_user",
        [{"name": "score", "field_type": "double"}, {"name": "big", "field_type": "int"}],
    )
    identify(server, rev_info("rev_user", {"tnt__score": 3, "tnt__big": 2**62}))
    cf = record(server, "rev_user")["custom_fields"]
    assert cf["tnt__score"] == 3
    assert cf["tnt__big"] == 2**62


WRONG: list[tuple[str, str, Any, str, str | None]] = [
    # (id, key, value, field path suffix, subtype)
    ("enum-unknown", "tnt__plan", "gold", "tnt__plan", "enum_out_of_range"),
    ("enum-case", "tnt__plan", "PRO", "tnt__plan", "enum_out_of_range"),
    ("enum-number", "tnt__plan", 1, "tnt__plan", "enum_out_of_range"),
    ("date-dmy", "tnt__renews", "31/05/2024", "tnt__renews", "date_parse_error"),
    ("date-feb-30", "tnt__renews", "2024-02-30", "tnt__renews", "date_parse_error"),
    ("date-with-time", "tnt__renews", "2024-05-31T10:00:00Z", "tnt__renews", "date_parse_error"),
    ("date-number", "tnt__renews", 20240531, "tnt__renews", "date_parse_error"),
    ("date-words", "tnt__renews", "tomorrow", "tnt__renews", "date_parse_error"),
    ("ts-no-zone", "tnt__seen", "2024-05-31T12:00:00", "tnt__seen", "timestamp_parse_error"),
    ("ts-words", "tnt__seen", "yesterday", "tnt__seen", "timestamp_parse_error"),
    ("ts-date-only", "tnt__seen", "2024-05-31", "tnt__seen", "timestamp_parse_error"),
    ("ts-epoch", "tnt__seen", 1717149600, "tnt__seen", "timestamp_parse_error"),
    ("ts-bad-month", "tnt__seen", "2024-13-01T00:00:00Z", "tnt__seen", "timestamp_parse_error"),
    ("int-string", "tnt__seats", "42", "tnt__seats", None),
    ("int-fraction", "tnt__seats", 4.5, "tnt__seats", None),
    ("int-bool", "tnt__seats", True, "tnt__seats", None),
    ("int-too-big", "tnt__seats", 2**64, "tnt__seats", None),
    ("double-string", "tnt__score", "2.5", "tnt__score", None),
    ("double-bool", "tnt__score", False, "tnt__score", None),
    ("bool-string", "tnt__active", "yes", "tnt__active", None),
    ("bool-int", "tnt__active", 1, "tnt__active", None),
    ("text-number", "tnt__note", 42, "tnt__note", None),
    ("text-list", "tnt__note", ["a"], "tnt__note", None),
    ("text-too-long", "tnt__note", "x" * 4097, "tnt__note", None),
    ("tokens-object", "tnt__keywords", {"a": 1}, "tnt__keywords", None),
    ("array-not-list", "tnt__labels", "a", "tnt__labels", None),
    ("array-text-item", "tnt__labels", ["a", 2], "tnt__labels[1]", None),
    ("array-int-item", "tnt__ranks", ["1"], "tnt__ranks[0]", None),
    ("array-int-fraction", "tnt__ranks", [1, 2.5], "tnt__ranks[1]", None),
]


@pytest.mark.parametrize(
    ("key", "value", "suffix", "subtype"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG]
)
def test_wrong_values_are_refused_naming_the_field(
    server: LiveServer, key: str, value: Any, suffix: str, subtype: str | None
) -> None:
    declare(server, "rev_user", ALL_TYPES)
    good = {k: v for k, v in VALID_VALUES.items() if k != key}
    r = identify_raw(server, rev_info("rev_user", {**good, key: value}))
    custom_error(r, f"rev_info.user_traits.custom_fields.{suffix}", subtype)
    assert_nothing_written(server)


@pytest.mark.parametrize("leaf_type", ["account", "rev_org"])
@pytest.mark.parametrize(
    ("key", "value", "subtype"),
    [
        ("tnt__plan", "gold", "enum_out_of_range"),
        ("tnt__renews", "2024-02-30", "date_parse_error"),
        ("tnt__seen", "noon", "timestamp_parse_error"),
    ],
)
def test_wrong_values_on_accounts_and_workspaces_are_refused(
    server: LiveServer, leaf_type: str, key: str, value: Any, subtype: str
) -> None:
    declare(server, leaf_type, ALL_TYPES)
    r = identify_raw(server, rev_info(leaf_type, {key: value}))
    custom_error(r, f"rev_info.{LEAVES[leaf_type][0]}.custom_fields.{key}", subtype)
    assert_nothing_written(server)


def test_a_field_of_one_object_type_is_not_defined_for_another(server: LiveServer) -> None:
    declare(server, "account", [{"name": "plan", "field_type": "text"}])
    r = identify_raw(server, rev_info("rev_user", {"tnt__plan": "pro"}))
    custom_error(r, "rev_info.user_traits.custom_fields.tnt__plan", "field_not_in_schema")
    assert_nothing_written(server)


def test_existing_record_refuses_a_wrong_value_and_keeps_the_old_one(server: LiveServer) -> None:
    declare(server, "rev_user", ALL_TYPES)
    identify(server, rev_info("rev_user", {"tnt__plan": "free"}))
    r = identify_raw(server, rev_info("rev_user", {"tnt__plan": "gold", "tnt__note": "n"}))
    custom_error(r, "rev_info.user_traits.custom_fields.tnt__plan", "enum_out_of_range")
    assert record(server, "rev_user")["custom_fields"] == {"tnt__plan": "free"}


# --- required fields ---------------------------------------------------------------------------


@pytest.mark.parametrize("leaf_type", list(LEAVES))
def test_required_field_is_enforced_when_the_record_is_created(
    server: LiveServer, leaf_type: str
) -> None:
    traits = LEAVES[leaf_type][0]
    declare(
        server,
        leaf_type,
        [
            {"name": "plan", "field_type": "enum", "allowed_values": ["free", "pro"],
             "is_required": True},
            {"name": "note", "field_type": "text"},
        ],
    )  # fmt: skip
    path = f"rev_info.{traits}.custom_fields.tnt__plan"
    # Absent altogether, and absent while another custom field is sent.
    absent = identify_raw(server, rev_info(leaf_type, None))
    assert absent.status_code == 400, absent.text
    # The account (and workspace) are written before the record that fails.
    assert_nothing_written(server)
    other = identify_raw(server, rev_info(leaf_type, {"tnt__note": "x"}))
    assert other.status_code == 400, other.text
    assert_nothing_written(server)
    custom_error(other, path, "field_required")
    custom_error(absent, path, "field_required")

    identify(server, rev_info(leaf_type, {"tnt__plan": "pro"}))
    # The record exists now: later identifies need not repeat it.
    identify(server, rev_info(leaf_type, None))
    identify(server, rev_info(leaf_type, {"tnt__note": "later"}))
    assert record(server, leaf_type)["custom_fields"] == {"tnt__plan": "pro", "tnt__note": "later"}


def test_field_made_required_later_does_not_block_existing_records(server: LiveServer) -> None:
    declare(server, "rev_user", [{"name": "plan", "field_type": "text"}])
    identify(server, {"user_ref": "old", "user_traits": {"display_name": "Old"}})
    declare(server, "rev_user", [{"name": "plan", "field_type": "text", "is_required": True}])
    r = identify_raw(server, {"user_ref": "old", "user_traits": {"display_name": "Old B."}})
    assert r.status_code == 201, r.text
    r = identify_raw(server, {"user_ref": "new"})
    custom_error(r, "rev_info.user_traits.custom_fields.tnt__plan", "field_required")
    with server.client(server.pat) as c:
        users = c.get("/rev-users.list").json()["rev_users"]
    assert [(u["external_ref"], u["display_name"]) for u in users] == [("old", "Old B.")]


def test_required_user_field_missing_writes_no_account_or_workspace(server: LiveServer) -> None:
    """Identify creates the account and workspace before the user; when the
    user then fails, none of it may remain."""
    declare(server, "rev_user", [{"name": "plan", "field_type": "text", "is_required": True}])
    info = {
        "user_ref": "ann",
        "account_ref": "acme",
        "workspace_ref": "acme-dev",
        "account_traits": {"display_name": "Acme", "domains": ["acme.example"]},
        "workspace_traits": {"display_name": "Acme Dev"},
    }
    custom_error(
        identify_raw(server, info),
        "rev_info.user_traits.custom_fields.tnt__plan",
        "field_required",
    )
    assert_nothing_written(server)


# --- schemas.custom.get / list ---------------------------------------------------------------


def test_set_get_and_list_return_the_definitions(server: LiveServer) -> None:
    r = schema_set(server, "rev_user", ALL_TYPES)
    assert r.status_code == 201, r.text
    frag_id = r.json()["id"]
    assert isinstance(frag_id, str) and frag_id
    declare(server, "account", [{"name": "tier2", "field_type": "int", "is_required": True}])

    with server.client(server.pat) as c:
        by_id = c.get("/schemas.custom.get", params={"id": frag_id})
        by_post = c.post("/schemas.custom.get", json={"id": frag_id})
        listed = c.get("/schemas.custom.list")
    assert by_id.status_code == 200, by_id.text
    assert by_post.status_code == 200, by_post.text
    assert by_id.json() == by_post.json()
    frag = by_id.json()["fragment"]
    assert frag["id"] == frag_id
    assert frag["leaf_type"] == "rev_user"
    assert sorted(f["name"].removeprefix("tnt__") for f in frag["fields"]) == sorted(
        f["name"] for f in ALL_TYPES
    )
    for spec in ALL_TYPES:
        got = field_named(frag, spec["name"])
        assert got["field_type"] == spec["field_type"]
        assert got.get("base_type") == spec.get("base_type")
        assert got.get("allowed_values") == spec.get("allowed_values")
        assert got["is_required"] is False
    assert field_named(frag, "note")["description"] == "free text"

    assert listed.status_code == 200, listed.text
    frags = {f["leaf_type"]: f for f in listed.json()["result"]}
    assert set(frags) == {"rev_user", "account"}
    assert frags["rev_user"] == frag
    (acc_field,) = frags["account"]["fields"]
    assert acc_field["name"].removeprefix("tnt__") == "tier2"
    assert acc_field["field_type"] == "int"
    assert acc_field["is_required"] is True


def test_get_of_an_undefined_schema_is_not_found(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        r = c.get("/schemas.custom.get", params={"leaf_type": "rev_org"})
        empty = c.get("/schemas.custom.list")
    assert r.status_code == 404, r.text
    assert r.json()["type"] == "not_found"
    assert empty.json()["result"] == []


def test_schemas_need_a_pat(server: LiveServer) -> None:
    with server.client(server.aat) as c:
        r = c.post(
            "/schemas.custom.set",
            json={"type": "tenant_fragment", "leaf_type": "rev_user", "fields": []},
        )
    assert r.status_code == 403, r.text
    assert r.json()["type"] == "forbidden"


# --- changing and deleting fields -----------------------------------------------------------

TYPE_CHANGES = [
    # (id, old spec, stored value, new spec)
    ("text-to-int", {"field_type": "text"}, "hello", {"field_type": "int"}),
    ("bool-false-to-text", {"field_type": "bool"}, False, {"field_type": "text"}),
    ("int-zero-to-text", {"field_type": "int"}, 0, {"field_type": "text"}),
    ("empty-text-to-int", {"field_type": "text"}, "", {"field_type": "int"}),
    (
        "array-base-type",
        {"field_type": "array", "base_type": "text"},
        ["a"],
        {"field_type": "array", "base_type": "int"},
    ),
    (
        "array-to-scalar",
        {"field_type": "array", "base_type": "int"},
        [],
        {"field_type": "int"},
    ),
]


@pytest.mark.parametrize(
    ("old", "value", "new"), [t[1:] for t in TYPE_CHANGES], ids=[t[0] for t in TYPE_CHANGES]
)
def test_type_change_is_refused_while_values_are_stored(
    any_server: LiveServer, old: dict[str, Any], value: Any, new: dict[str, Any]
) -> None:
    server = any_server
    declare(server, "rev_user", [{"name": "f", **old}])
    identify(server, rev_info("rev_user", {"tnt__f": value}))
    r = schema_set(server, "rev_user", [{"name": "f", **new}])
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "conflict"
    got = field_named(fragment(server, "rev_user"), "f")
    assert got["field_type"] == old["field_type"]
    assert got.get("base_type") == old.get("base_type")
    assert record(server, "rev_user")["custom_fields"] == {"tnt__f": value}
    # The old type still works.
    identify(server, rev_info("rev_user", {"tnt__f": value}))


def test_type_change_is_allowed_without_stored_values(any_server: LiveServer) -> None:
    server = any_server
    declare(server, "rev_user", [{"name": "f", "field_type": "text"}])
    # A value of the same name on another object type does not count.
    declare(server, "account", [{"name": "f", "field_type": "text"}])
    identify(server, rev_info("account", {"tnt__f": "on the account"}))
    identify(server, rev_info("rev_user", None))
    r = schema_set(server, "rev_user", [{"name": "f", "field_type": "int"}])
    assert r.status_code == 201, r.text
    assert field_named(fragment(server, "rev_user"), "f")["field_type"] == "int"
    custom_error(
        identify_raw(server, rev_info("rev_user", {"tnt__f": "text"})),
        "rev_info.user_traits.custom_fields.tnt__f",
    )
    identify(server, rev_info("rev_user", {"tnt__f": 7}))
    assert record(server, "rev_user")["custom_fields"] == {"tnt__f": 7}


def test_type_change_is_allowed_once_values_are_cleared(any_server: LiveServer) -> None:
    server = any_server
    declare(server, "rev_org", [{"name": "f", "field_type": "text"}])
    identify(server, rev_info("rev_org", {"tnt__f": "x"}))
    assert schema_set(server, "rev_org", [{"name": "f", "field_type": "int"}]).status_code == 409
    identify(server, rev_info("rev_org", {"tnt__f": None}))
    assert record(server, "rev_org")["custom_fields"] == {}
    r = schema_set(server, "rev_org", [{"name": "f", "field_type": "int"}])
    assert r.status_code == 201, r.text


def test_changing_other_attributes_keeps_the_type_and_values(server: LiveServer) -> None:
    declare(server, "rev_user", [{"name": "plan", "field_type": "enum",
                                  "allowed_values": ["free", "pro"]}])  # fmt: skip
    identify(server, rev_info("rev_user", {"tnt__plan": "pro"}))
    r = schema_set(
        server,
        "rev_user",
        [{"name": "plan", "field_type": "enum", "allowed_values": ["free", "pro", "team"],
          "description": "the plan"}],
    )  # fmt: skip
    assert r.status_code == 201, r.text
    got = field_named(fragment(server, "rev_user"), "plan")
    assert got["allowed_values"] == ["free", "pro", "team"]
    assert got["description"] == "the plan"
    identify(server, rev_info("rev_user", {"tnt__plan": "team"}))
    assert record(server, "rev_user")["custom_fields"] == {"tnt__plan": "team"}


def test_deleted_field_keeps_old_values_but_refuses_new_ones(server: LiveServer) -> None:
    declare(
        server,
        "rev_user",
        [{"name": "plan", "field_type": "text"}, {"name": "note", "field_type": "text"}],
    )
    identify(server, rev_info("rev_user", {"tnt__plan": "pro", "tnt__note": "n"}))
    r = schema_set(server, "rev_user", [], deleted_fields=["plan"])
    assert r.status_code == 201, r.text

    frag = fragment(server, "rev_user")
    assert [f["name"].removeprefix("tnt__") for f in frag["fields"]] == ["note"]
    assert [n.removeprefix("tnt__") for n in frag["deleted_fields"]] == ["plan"]

    u = record(server, "rev_user")
    with server.client(server.pat) as c:
        got = c.get("/rev-users.get", params={"id": u["id"]}).json()["rev_user"]
    assert got["custom_fields"] == {"tnt__plan": "pro", "tnt__note": "n"}

    r = identify_raw(server, rev_info("rev_user", {"tnt__plan": "team"}))
    custom_error(r, "rev_info.user_traits.custom_fields.tnt__plan", "field_not_in_schema")
    with server.client(server.pat) as c:
        r = c.post("/rev-users.update", json={"id": u["id"], "custom_fields": {"tnt__plan": "x"}})
    assert r.status_code == 400, r.text
    assert r.json()["field_name"] == "custom_fields.tnt__plan"
    # Identifies that leave it alone work, and the old value survives them.
    identify(server, rev_info("rev_user", {"tnt__note": "m"}))
    assert record(server, "rev_user")["custom_fields"] == {"tnt__plan": "pro", "tnt__note": "m"}


def test_a_deleted_field_can_be_defined_again(server: LiveServer) -> None:
    declare(server, "rev_user", [{"name": "plan", "field_type": "text"}])
    assert schema_set(server, "rev_user", [], deleted_fields=["plan"]).status_code == 201
    declare(server, "rev_user", [{"name": "plan", "field_type": "text"}])
    identify(server, rev_info("rev_user", {"tnt__plan": "pro"}))
    assert record(server, "rev_user")["custom_fields"] == {"tnt__plan": "pro"}
    assert fragment(server, "rev_user")["deleted_fields"] == []


# --- bad schema requests ----------------------------------------------------------------------

BAD_SCHEMAS: list[tuple[str, dict[str, Any], str, str]] = [
    # (id, body overrides, error type, field_name)
    ("enum-without-allowed-values", {"fields": [{"name": "p", "field_type": "enum"}]},
     "invalid_field", "fields[0].allowed_values"),
    ("enum-with-empty-allowed-values",
     {"fields": [{"name": "p", "field_type": "enum", "allowed_values": []}]},
     "invalid_field", "fields[0].allowed_values"),
    ("array-without-base-type", {"fields": [{"name": "p", "field_type": "array"}]},
     "invalid_field", "fields[0].base_type"),
    ("array-of-enum-without-allowed-values",
     {"fields": [{"name": "p", "field_type": "array", "base_type": "enum"}]},
     "invalid_field", "fields[0].allowed_values"),
    ("base-type-on-scalar",
     {"fields": [{"name": "p", "field_type": "text", "base_type": "text"}]},
     "invalid_field", "fields[0].base_type"),
    ("allowed-values-on-text",
     {"fields": [{"name": "p", "field_type": "text", "allowed_values": ["a"]}]},
     "invalid_field", "fields[0].allowed_values"),
    ("name-with-space", {"fields": [{"name": "plan type", "field_type": "text"}]},
     "invalid_field", "fields[0].name"),
    ("name-upper-case", {"fields": [{"name": "Plan", "field_type": "text"}]},
     "invalid_field", "fields[0].name"),
    ("name-leading-digit", {"fields": [{"name": "9lives", "field_type": "text"}]},
     "invalid_field", "fields[0].name"),
    ("name-empty", {"fields": [{"name": "", "field_type": "text"}]},
     "invalid_field", "fields[0].name"),
    ("name-too-long", {"fields": [{"name": "a" * 64, "field_type": "text"}]},
     "invalid_field", "fields[0].name"),
    ("name-dash", {"fields": [{"name": "my-plan", "field_type": "text"}]},
     "invalid_field", "fields[0].name"),
    ("unknown-field-type", {"fields": [{"name": "p", "field_type": "money"}]},
     "value_not_permitted", "fields[0].field_type"),
    ("array-of-array",
     {"fields": [{"name": "p", "field_type": "array", "base_type": "array"}]},
     "value_not_permitted", "fields[0].base_type"),
    ("missing-field-type", {"fields": [{"name": "p"}]},
     "missing_required_field", "fields[0].field_type"),
    ("missing-name", {"fields": [{"field_type": "text"}]},
     "missing_required_field", "fields[0].name"),
    ("unknown-key-in-field", {"fields": [{"name": "p", "field_type": "text", "colour": "red"}]},
     "invalid_field", "fields[0].colour"),
    ("unknown-leaf-type", {"leaf_type": "ticket"}, "value_not_permitted", "leaf_type"),
    ("unknown-fragment-type", {"type": "app_fragment"}, "value_not_permitted", "type"),
    ("duplicate-names",
     {"fields": [{"name": "p", "field_type": "text"}, {"name": "p", "field_type": "int"}]},
     "invalid_field", "fields[1].name"),
    ("second-field-bad",
     {"fields": [{"name": "ok", "field_type": "text"}, {"name": "p", "field_type": "enum"}]},
     "invalid_field", "fields[1].allowed_values"),
    ("delete-undefined", {"fields": [{"name": "ok", "field_type": "text"}],
                          "deleted_fields": ["nope"]},
     "invalid_field", "deleted_fields[0]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "error_type", "field_name"),
    [b[1:] for b in BAD_SCHEMAS],
    ids=[b[0] for b in BAD_SCHEMAS],
)
def test_bad_schema_requests_are_refused_naming_the_field(
    server: LiveServer, overrides: dict[str, Any], error_type: str, field_name: str
) -> None:
    body = {"type": "tenant_fragment", "leaf_type": "rev_user", "fields": [], **overrides}
    with server.client(server.pat) as c:
        r = c.post("/schemas.custom.set", json=body)
        listed = c.get("/schemas.custom.list")
    assert r.status_code == 400, r.text
    assert r.json()["type"] == error_type, r.json()
    assert r.json()["field_name"] == field_name, r.json()
    assert listed.json()["result"] == [], "a refused schema request was partly written"


def test_missing_leaf_type_is_refused(server: LiveServer) -> None:
    with server.client(server.pat) as c:
        r = c.post("/schemas.custom.set", json={"type": "tenant_fragment", "fields": []})
    assert r.status_code == 400, r.text
    assert r.json()["type"] == "missing_required_field"
    assert r.json()["field_name"] == "leaf_type"
