"""The agents' CRM calls (PAT): ``rev-users.*``, ``accounts.*`` and
``rev-orgs.*`` get, list, update and delete, in DevRev's shapes."""

from __future__ import annotations

import base64
import re
from typing import Any

import httpx
import pytest

from tests.helpers import jwt_claims
from tests.live_server import LiveServer

SESSION = "/auth-tokens.create"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# kind -> (object path, singular key, plural key, ref filter, display prefix)
KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "rev_user": ("rev-users", "rev_user", "rev_users", "external_ref", "REVU-"),
    "account": ("accounts", "account", "accounts", "external_refs", "ACC-"),
    "rev_org": ("rev-orgs", "rev_org", "rev_orgs", "external_ref", "REV-"),
}


# --- helpers ------------------------------------------------------------------------


def identify_token(server: LiveServer, rev_info: dict[str, Any]) -> str:
    with server.client(server.aat) as c:
        r = c.post(SESSION, json={"rev_info": rev_info})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


def identify(server: LiveServer, rev_info: dict[str, Any]) -> str:
    return jwt_claims(identify_token(server, rev_info))["sub"]


def make_one(server: LiveServer, kind: str, n: int) -> str:
    """Create one record of ``kind`` with ref ``<kind>-<n>``; its ref."""
    ref = f"{kind}-{n}"
    if kind == "rev_user":
        identify(server, {"user_ref": ref})
    elif kind == "account":
        identify(server, {"user_ref": f"u-{ref}", "account_ref": ref})
    else:
        identify(server, {"user_ref": f"u-{ref}", "workspace_ref": ref})
    return ref


def refs_of(kind: str, obj: dict[str, Any]) -> list[str]:
    return obj["external_refs"] if kind == "account" else [obj["external_ref"]]


def pat(server: LiveServer) -> httpx.Client:
    return server.client(server.pat)


def get_ok(c: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    r = c.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def post_ok(c: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    r = c.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def one_by_ref(c: httpx.Client, kind: str, ref: str) -> dict[str, Any]:
    path, _, plural, ref_filter, _ = KINDS[kind]
    (found,) = get_ok(c, f"/{path}.list", **{ref_filter: ref})[plural]
    return found


def assert_error(r: httpx.Response, status: int, error_type: str, field: str | None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == error_type, body
    if field is not None:
        assert body.get("field_name") == field, body


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def three_levels(server: LiveServer) -> dict[str, dict[str, Any]]:
    identify(
        server,
        {
            "user_ref": "ann",
            "account_ref": "acme",
            "workspace_ref": "acme-dev",
            "user_traits": {
                "display_name": "Ann",
                "email": "ann@acme.example",
                "phone_numbers": ["+911122334455"],
                "description": "a customer",
            },
            "workspace_traits": {"display_name": "Acme Dev", "tier": "gold"},
            "account_traits": {
                "display_name": "Acme",
                "domains": ["acme.example"],
                "websites": ["www.acme.example"],
                "tier": "enterprise",
                "description": "a company",
                "phone_numbers": ["+919988998833"],
            },
        },
    )
    with pat(server) as c:
        return {
            "rev_user": one_by_ref(c, "rev_user", "ann"),
            "account": one_by_ref(c, "account", "acme"),
            "rev_org": one_by_ref(c, "rev_org", "acme-dev"),
        }


# --- shapes ---------------------------------------------------------------------------------


def test_shapes_use_devrev_field_names(server: LiveServer) -> None:
    objs = three_levels(server)
    u, a, o = objs["rev_user"], objs["account"], objs["rev_org"]

    for key in ("id", "display_id", "display_name", "email", "phone_numbers", "external_ref",
                "description", "custom_fields", "rev_org", "is_verified", "state",
                "created_date", "modified_date"):  # fmt: skip
        assert key in u, f"rev user lacks {key}: {u}"
    assert u["id"].startswith("don:identity:openplug:devo/") and ":revu/" in u["id"]
    assert u["display_id"].startswith("REVU-")
    assert u["display_name"] == "Ann"
    assert u["email"] == "ann@acme.example"
    assert u["phone_numbers"] == ["+911122334455"]
    assert u["external_ref"] == "ann"
    assert u["description"] == "a customer"
    assert u["custom_fields"] == {}
    assert u["rev_org"]["id"] == o["id"]
    assert u["is_verified"] is True
    assert u["state"] == "active"
    assert RFC3339_UTC.match(u["created_date"]), u["created_date"]
    assert RFC3339_UTC.match(u["modified_date"]), u["modified_date"]

    for key in ("id", "display_id", "display_name", "domains", "websites", "external_refs",
                "tier", "description", "custom_fields", "owned_by"):  # fmt: skip
        assert key in a, f"account lacks {key}: {a}"
    assert ":account/" in a["id"]
    assert a["display_id"].startswith("ACC-")
    assert a["display_name"] == "Acme"
    assert a["domains"] == ["acme.example"]
    assert a["websites"] == ["www.acme.example"]
    assert a["external_refs"] == ["acme"]
    assert a["tier"] == "enterprise"
    assert a["description"] == "a company"

    for key in ("id", "display_id", "display_name", "external_ref", "account", "tier",
                "custom_fields"):  # fmt: skip
        assert key in o, f"rev org lacks {key}: {o}"
    # DevRev types these as strings: absent, never null, when there is none.
    assert "description" not in o and "domain" not in o, o
    assert a["owned_by"] == []  # required by DevRev's schema
    assert ":revo/" in o["id"]
    assert o["display_id"].startswith("REV-")
    assert o["external_ref"] == "acme-dev"
    assert o["account"]["id"] == a["id"]
    assert o["tier"] == "gold"


@pytest.mark.parametrize("kind", list(KINDS))
def test_get_by_don_id_and_display_id(server: LiveServer, kind: str) -> None:
    obj = three_levels(server)[kind]
    path, singular, _, _, prefix = KINDS[kind]
    with pat(server) as c:
        by_don = get_ok(c, f"/{path}.get", id=obj["id"])
        by_display = get_ok(c, f"/{path}.get", id=obj["display_id"])
        by_post = post_ok(c, f"/{path}.get", {"id": obj["id"]})
    assert obj["display_id"].startswith(prefix)
    assert by_don == {singular: obj}
    assert by_display == by_don
    assert by_post == by_don


@pytest.mark.parametrize("kind", list(KINDS))
def test_get_unknown_is_404_and_malformed_id_is_400(server: LiveServer, kind: str) -> None:
    obj = three_levels(server)[kind]
    path, _, _, _, prefix = KINDS[kind]
    unknown_don = obj["id"].rsplit("/", 1)[0] + "/99999"
    with pat(server) as c:
        for missing in (f"{prefix}99999", unknown_don):
            assert_error(c.get(f"/{path}.get", params={"id": missing}), 404, "not_found", None)
            assert_error(c.post(f"/{path}.get", json={"id": missing}), 404, "not_found", None)
        for bad in ("abc", "", "CONV-1", f"{prefix}x", f"{prefix}-1"):
            r = c.get(f"/{path}.get", params={"id": bad})
            assert_error(r, 400, "invalid_id", "id")
        assert_error(c.post(f"/{path}.get", json={}), 400, "missing_required_field", "id")


def test_get_of_another_kinds_id_is_refused(server: LiveServer) -> None:
    objs = three_levels(server)
    with pat(server) as c:
        r = c.get("/rev-users.get", params={"id": objs["account"]["id"]})
    assert r.status_code in (400, 404), r.text
    assert r.json()["type"] in ("invalid_id", "not_found")


def test_crm_calls_need_a_pat(server: LiveServer) -> None:
    three_levels(server)
    with server.client(server.aat) as c:
        assert_error(c.get("/rev-users.list"), 403, "forbidden", None)
    with server.client() as c:
        assert_error(c.get("/accounts.list"), 401, "unauthenticated", None)
    with server.client("Bearer " + server.pat) as c:
        assert c.get("/rev-orgs.list").status_code == 200


# --- listing ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_paging_visits_every_record_exactly_once(
    server: LiveServer, kind: str, method: str
) -> None:
    refs = {make_one(server, kind, n) for n in range(7)}
    path, _, plural, _, _ = KINDS[kind]
    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    with pat(server) as c:
        for _ in range(10):
            params: dict[str, Any] = {"limit": 3}
            if cursor is not None:
                params["cursor"] = cursor
            if method == "GET":
                page = get_ok(c, f"/{path}.list", **params)
            else:
                page = post_ok(c, f"/{path}.list", params)
            sizes.append(len(page[plural]))
            seen += [r for obj in page[plural] for r in refs_of(kind, obj)]
            cursor = page.get("next_cursor")
            if not cursor:
                break
    assert sorted(seen) == sorted(refs), f"pages {sizes}"
    assert all(size <= 3 for size in sizes)
    assert sizes[0] == 3


def test_records_created_while_paging_are_not_repeated(server: LiveServer) -> None:
    for n in range(5):
        make_one(server, "rev_user", n)
    with pat(server) as c:
        page = get_ok(c, "/rev-users.list", limit=2)
        seen = [u["external_ref"] for u in page["rev_users"]]
        make_one(server, "rev_user", 100)
        cursor = page["next_cursor"]
        while cursor:
            page = get_ok(c, "/rev-users.list", limit=2, cursor=cursor)
            seen += [u["external_ref"] for u in page["rev_users"]]
            cursor = page.get("next_cursor")
    assert len(seen) == len(set(seen)), seen
    assert {f"rev_user-{n}" for n in range(5)} <= set(seen)


def test_default_list_and_empty_list_shapes(server: LiveServer) -> None:
    with pat(server) as c:
        for path, _, plural, _, _ in KINDS.values():
            body = get_ok(c, f"/{path}.list")
            assert body[plural] == []
            assert body.get("next_cursor") is None
    make_one(server, "rev_user", 1)
    with pat(server) as c:
        body = get_ok(c, "/rev-users.list")
    assert [u["external_ref"] for u in body["rev_users"]] == ["rev_user-1"]
    assert body.get("next_cursor") is None


@pytest.mark.parametrize("kind", list(KINDS))
def test_filter_by_ref_in_every_form(server: LiveServer, kind: str) -> None:
    for n in range(4):
        make_one(server, kind, n)
    path, _, plural, ref_filter, _ = KINDS[kind]
    a, b = f"{kind}-1", f"{kind}-3"

    def found(page: dict[str, Any]) -> list[str]:
        return sorted(r for obj in page[plural] for r in refs_of(kind, obj))

    with pat(server) as c:
        one = get_ok(c, f"/{path}.list", **{ref_filter: a})
        repeated = c.get(f"/{path}.list", params=[(ref_filter, a), (ref_filter, b)])
        quoted = get_ok(c, f"/{path}.list", **{ref_filter: f'"{a}","{b}"'})
        quoted_one = get_ok(c, f"/{path}.list", **{ref_filter: f'"{a}"'})
        posted = post_ok(c, f"/{path}.list", {ref_filter: [a, b]})
        none = get_ok(c, f"/{path}.list", **{ref_filter: "nobody"})
    assert repeated.status_code == 200, repeated.text
    assert found(one) == [a]
    assert found(repeated.json()) == [a, b]
    assert found(quoted) == [a, b]
    assert found(quoted_one) == [a]
    assert found(posted) == [a, b]
    assert none[plural] == []


def test_quoted_filter_items_may_contain_commas(server: LiveServer) -> None:
    identify(server, {"user_ref": "last, first"})
    identify(server, {"user_ref": "plain"})
    identify(server, {"user_ref": "other"})
    with pat(server) as c:
        page = get_ok(c, "/rev-users.list", external_ref='"last, first","plain"')
    assert sorted(u["external_ref"] for u in page["rev_users"]) == ["last, first", "plain"]


def test_filters_combine_with_paging(server: LiveServer) -> None:
    for n in range(6):
        make_one(server, "rev_user", n)
    wanted = [f"rev_user-{n}" for n in (0, 2, 3, 5)]
    seen: list[str] = []
    with pat(server) as c:
        cursor = None
        for _ in range(5):
            params: list[tuple[str, Any]] = [("external_ref", r) for r in wanted]
            params.append(("limit", 3))
            if cursor:
                params.append(("cursor", cursor))
            r = c.get("/rev-users.list", params=params)
            assert r.status_code == 200, r.text
            seen += [u["external_ref"] for u in r.json()["rev_users"]]
            cursor = r.json().get("next_cursor")
            if not cursor:
                break
    assert sorted(seen) == sorted(wanted)


GARBAGE_CURSORS = [
    ("words", "garbage"),
    ("punctuation", "!!!"),
    ("not-a-number", b64("v1:abc")),
    ("other-version", b64("v2:5")),
    ("negative", b64("v1:-5")),
    ("raw", "v1:5"),
]


@pytest.mark.parametrize("cursor", [c for _, c in GARBAGE_CURSORS],
                         ids=[i for i, _ in GARBAGE_CURSORS])  # fmt: skip
@pytest.mark.parametrize("kind", list(KINDS))
def test_garbage_cursor_is_400_naming_cursor(server: LiveServer, kind: str, cursor: str) -> None:
    make_one(server, kind, 1)
    path = KINDS[kind][0]
    with pat(server) as c:
        assert_error(c.get(f"/{path}.list", params={"cursor": cursor}), 400, "invalid_field",
                     "cursor")  # fmt: skip
        assert_error(c.post(f"/{path}.list", json={"cursor": cursor}), 400, "invalid_field",
                     "cursor")  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
def test_out_of_range_cursor_is_400_not_500(any_server: LiveServer, kind: str) -> None:
    """A cursor decoding to a key no row can have (beyond the database's
    integer range) is still just a bad cursor."""
    server = any_server
    make_one(server, kind, 1)
    path = KINDS[kind][0]
    for key in ("9" * 10, "9" * 18, "9" * 30):
        # A fresh connection each time: a 500 may close the previous one.
        with pat(server) as c:
            r = c.get(f"/{path}.list", params={"cursor": b64(f"v1:{key}")})
        assert r.status_code in (200, 400), f"cursor key {key}: {r.status_code} {r.text}"
        if r.status_code == 400:
            assert r.json()["field_name"] == "cursor"
        else:
            # Read as "before key": every record comes back, nothing breaks.
            assert len(r.json()[KINDS[kind][2]]) == 1


@pytest.mark.parametrize("kind", list(KINDS))
def test_out_of_range_ids_are_404_or_400_not_500(any_server: LiveServer, kind: str) -> None:
    server = any_server
    obj = three_levels(server)[kind]
    path, _, _, _, prefix = KINDS[kind]
    don_base = obj["id"].rsplit("/", 1)[0]
    for digits in ("9" * 10, "9" * 18, "9" * 30):
        for id_value in (f"{prefix}{digits}", f"{don_base}/{digits}"):
            with pat(server) as c:
                r = c.get(f"/{path}.get", params={"id": id_value})
            assert r.status_code in (400, 404), f"{id_value}: {r.status_code} {r.text}"
            if r.status_code == 400:
                assert r.json()["field_name"] == "id"


@pytest.mark.parametrize("limit", [0, -1, 101, "ten"])
def test_bad_limit_is_400_naming_limit(server: LiveServer, limit: Any) -> None:
    with pat(server) as c:
        r = c.get("/rev-users.list", params={"limit": limit})
    assert r.status_code == 400, r.text
    assert r.json()["field_name"] == "limit"


# --- updates -----------------------------------------------------------------------------


def declare(server: LiveServer, leaf_type: str, names: list[str]) -> None:
    with pat(server) as c:
        r = c.post(
            "/schemas.custom.set",
            json={
                "type": "tenant_fragment",
                "leaf_type": leaf_type,
                "fields": [{"name": n, "field_type": "text"} for n in names],
            },
        )
    assert r.status_code == 201, r.text


def test_rev_users_update_changes_fields(server: LiveServer) -> None:
    declare(server, "rev_user", ["a", "b"])
    identify(
        server,
        {"user_ref": "ann", "user_traits": {"custom_fields": {"tnt__a": "a1", "tnt__b": "b1"}}},
    )
    with pat(server) as c:
        before = one_by_ref(c, "rev_user", "ann")
        body = post_ok(
            c,
            "/rev-users.update",
            {
                "id": before["id"],
                "display_name": "Ann Agent-Edited",
                "email": "ann@acme.example",
                "phone_numbers": ["+12025550123"],
                "description": "VIP",
                "custom_fields": {"tnt__b": "b2"},
            },
        )
        after = get_ok(c, "/rev-users.get", id=before["id"])["rev_user"]
    assert set(body) == {"rev_user"}
    assert body["rev_user"] == after
    assert after["display_name"] == "Ann Agent-Edited"
    assert after["email"] == "ann@acme.example"
    assert after["phone_numbers"] == ["+12025550123"]
    assert after["description"] == "VIP"
    assert after["custom_fields"] == {"tnt__a": "a1", "tnt__b": "b2"}
    assert after["external_ref"] == "ann"
    assert after["modified_date"] > before["modified_date"]
    assert after["created_date"] == before["created_date"]


def test_update_with_unchanged_values_does_not_touch_modified_date(server: LiveServer) -> None:
    identify(server, {"user_ref": "ann", "user_traits": {"display_name": "Ann"}})
    with pat(server) as c:
        before = one_by_ref(c, "rev_user", "ann")
        post_ok(c, "/rev-users.update", {"id": before["id"], "display_name": "Ann"})
        after = get_ok(c, "/rev-users.get", id=before["id"])["rev_user"]
    assert after["modified_date"] == before["modified_date"]


UPDATE_ERRORS = [
    # (id, kind, changes, error type, field_name)
    ("user-phone", "rev_user", {"phone_numbers": ["12345"]}, "invalid_field", "phone_numbers[0]"),
    ("user-second-phone", "rev_user", {"phone_numbers": ["+12025550123", "+1"]},
     "invalid_field", "phone_numbers[1]"),
    ("user-email", "rev_user", {"email": "not-an-email"}, "invalid_field", "email"),
    ("user-name-long", "rev_user", {"display_name": "x" * 256}, "invalid_field", "display_name"),
    ("user-description-long", "rev_user", {"description": "x" * 4097}, "invalid_field",
     "description"),
    ("user-unknown-key", "rev_user", {"nickname": "other"}, "invalid_field", "nickname"),
    ("user-custom-undefined", "rev_user", {"custom_fields": {"tnt__zzz": "x"}},
     "customization_validation_error", "custom_fields.tnt__zzz"),
    ("user-custom-no-prefix", "rev_user", {"custom_fields": {"zzz": "x"}}, None,
     "custom_fields.zzz"),
    ("user-rev-org-unknown", "rev_user", {"rev_org": "REV-9999"}, "invalid_id", "rev_org"),
    ("user-rev-org-garbage", "rev_user", {"rev_org": "acme-dev"}, "invalid_id", "rev_org"),
    ("account-domain", "account", {"domains": ["https://acme.example"]}, "invalid_field",
     "domains[0]"),
    ("account-website", "account", {"websites": ["not a site"]}, "invalid_field", "websites[0]"),
    ("account-phone", "account", {"phone_numbers": ["12345"]}, "invalid_field",
     "phone_numbers[0]"),
    ("account-tier-long", "account", {"tier": "t" * 256}, "invalid_field", "tier"),
    ("org-phone", "rev_org", {"phone_numbers": ["+1234567"]}, "invalid_field",
     "phone_numbers[0]"),
    ("org-account-unknown", "rev_org", {"account": "ACC-9999"}, "invalid_id", "account"),
    ("org-unknown-key", "rev_org", {"domains": ["acme.example"]}, "invalid_field", "domains"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "changes", "error_type", "field_name"),
    [e[1:] for e in UPDATE_ERRORS],
    ids=[e[0] for e in UPDATE_ERRORS],
)
def test_update_validates_like_identify_and_changes_nothing_when_refused(
    server: LiveServer,
    kind: str,
    changes: dict[str, Any],
    error_type: str | None,
    field_name: str,
) -> None:
    obj = three_levels(server)[kind]
    path, singular, _, _, _ = KINDS[kind]
    with pat(server) as c:
        r = c.post(f"/{path}.update", json={"id": obj["id"], **changes})
        after = get_ok(c, f"/{path}.get", id=obj["id"])[singular]
    assert r.status_code == 400, r.text
    if error_type is not None:
        assert r.json()["type"] == error_type, r.json()
    assert r.json()["field_name"] == field_name, r.json()
    assert after == obj


@pytest.mark.parametrize("kind", list(KINDS))
def test_update_of_unknown_record_is_404(server: LiveServer, kind: str) -> None:
    path, _, _, _, prefix = KINDS[kind]
    with pat(server) as c:
        r = c.post(f"/{path}.update", json={"id": f"{prefix}4242", "display_name": "x"})
    assert_error(r, 404, "not_found", None)


def test_rev_users_update_rev_org_moves_the_user(server: LiveServer) -> None:
    ann = identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    identify(server, {"user_ref": "bob", "account_ref": "a2", "workspace_ref": "w2"})
    with pat(server) as c:
        w2 = one_by_ref(c, "rev_org", "w2")
        a2 = one_by_ref(c, "account", "a2")
        body = post_ok(c, "/rev-users.update", {"id": ann, "rev_org": w2["display_id"]})
        after = get_ok(c, "/rev-users.get", id=ann)["rev_user"]
        in_w2 = get_ok(c, "/rev-users.list", rev_org=w2["id"])["rev_users"]
    assert body["rev_user"]["rev_org"]["id"] == w2["id"]
    assert after["rev_org"]["id"] == w2["id"]
    assert after["account"]["id"] == a2["id"]
    assert sorted(u["external_ref"] for u in in_w2) == ["ann", "bob"]


def test_accounts_update_changes_fields(server: LiveServer) -> None:
    declare(server, "account", ["x", "y"])
    account = three_levels(server)["account"]
    with pat(server) as c:
        post_ok(c, "/accounts.update", {"id": account["id"], "custom_fields": {"tnt__x": "1"}})
        body = post_ok(
            c,
            "/accounts.update",
            {
                "id": account["display_id"],
                "display_name": "Acme Corp",
                "domains": ["ACME.example", "acme.test"],
                "websites": ["https://acme.example/"],
                "tier": "smb",
                "description": "renamed",
                "phone_numbers": ["+12025550123"],
                "custom_fields": {"tnt__y": "2"},
            },
        )
        after = get_ok(c, "/accounts.get", id=account["id"])["account"]
    assert body == {"account": after}
    assert after["display_name"] == "Acme Corp"
    assert after["domains"] == ["acme.example", "acme.test"]
    assert after["websites"] == ["https://acme.example/"]
    assert after["tier"] == "smb"
    assert after["description"] == "renamed"
    assert after["phone_numbers"] == ["+12025550123"]
    assert after["custom_fields"] == {"tnt__x": "1", "tnt__y": "2"}
    assert after["external_refs"] == ["acme"]


def test_rev_orgs_update_changes_fields_and_account(server: LiveServer) -> None:
    declare(server, "rev_org", ["x"])
    org = three_levels(server)["rev_org"]
    identify(server, {"user_ref": "zed", "account_ref": "other"})
    with pat(server) as c:
        other = one_by_ref(c, "account", "other")
        body = post_ok(
            c,
            "/rev-orgs.update",
            {
                "id": org["id"],
                "display_name": "Acme Platform",
                "tier": "silver",
                "description": "moved",
                "custom_fields": {"tnt__x": "1"},
                "account": other["id"],
            },
        )
        after = get_ok(c, "/rev-orgs.get", id=org["display_id"])["rev_org"]
        under_other = get_ok(c, "/rev-orgs.list", account=other["id"])["rev_orgs"]
    assert body == {"rev_org": after}
    assert after["display_name"] == "Acme Platform"
    assert after["tier"] == "silver"
    assert after["description"] == "moved"
    assert after["custom_fields"] == {"tnt__x": "1"}
    assert after["account"]["id"] == other["id"]
    assert after["external_ref"] == "acme-dev"
    assert [o["id"] for o in under_other] == [org["id"]]


def test_rev_orgs_update_account_carries_its_users(server: LiveServer) -> None:
    """A workspace moved by an agent takes its users along: their account
    must agree with their workspace's account."""
    objs = three_levels(server)
    identify(server, {"user_ref": "zed", "account_ref": "other"})
    with pat(server) as c:
        other = one_by_ref(c, "account", "other")
        post_ok(c, "/rev-orgs.update", {"id": objs["rev_org"]["id"], "account": other["id"]})
        ann = get_ok(c, "/rev-users.get", id=objs["rev_user"]["id"])["rev_user"]
    assert ann["rev_org"]["id"] == objs["rev_org"]["id"]
    assert ann["account"]["id"] == other["id"]


@pytest.mark.parametrize(
    ("kind", "field"),
    [("rev_user", "display_name"), ("rev_user", "phone_numbers"),
     ("account", "display_name"), ("account", "domains"),
     ("rev_org", "display_name")],
)  # fmt: skip
def test_update_with_null_is_handled(server: LiveServer, kind: str, field: str) -> None:
    """``null`` for a field must be a 400 naming it or be accepted; never a
    500, and a list field never turns into null."""
    obj = three_levels(server)[kind]
    path, singular, _, _, _ = KINDS[kind]
    with pat(server) as c:
        r = c.post(f"/{path}.update", json={"id": obj["id"], field: None})
        after = get_ok(c, f"/{path}.get", id=obj["id"])[singular]
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        assert r.json()["field_name"] == field
    assert after["display_name"]
    for key in ("phone_numbers", "domains", "websites"):
        if key in after:
            assert isinstance(after[key], list), f"{key} became {after[key]!r}"


# --- delete -------------------------------------------------------------------------------


def test_rev_users_delete_removes_the_user(server: LiveServer) -> None:
    token = identify_token(server, {"user_ref": "ann", "account_ref": "acme"})
    ann = jwt_claims(token)["sub"]
    bob = identify(server, {"user_ref": "bob", "account_ref": "acme"})
    with server.client(token) as c:
        assert c.get("/auth-tokens.info").status_code == 200
    with pat(server) as c:
        assert post_ok(c, "/rev-users.delete", {"id": ann}) == {}
        assert_error(c.get("/rev-users.get", params={"id": ann}), 404, "not_found", None)
        listed = get_ok(c, "/rev-users.list")["rev_users"]
        assert [u["id"] for u in listed] == [bob]
        # The account stays.
        assert one_by_ref(c, "account", "acme")["external_refs"] == ["acme"]
        assert_error(c.post("/rev-users.delete", json={"id": ann}), 404, "not_found", None)
    # The deleted user's session token stops working.
    with server.client(token) as c:
        assert_error(c.get("/auth-tokens.info"), 401, "unauthenticated", None)
    # The same ref identified again is a new user.
    again = identify(server, {"user_ref": "ann"})
    assert again != ann
    with pat(server) as c:
        assert one_by_ref(c, "rev_user", "ann")["id"] == again


def test_rev_users_delete_of_unknown_or_malformed_id(server: LiveServer) -> None:
    with pat(server) as c:
        assert_error(c.post("/rev-users.delete", json={"id": "REVU-777"}), 404, "not_found", None)
        assert_error(c.post("/rev-users.delete", json={"id": "nope"}), 400, "invalid_id", "id")
        assert_error(c.post("/rev-users.delete", json={}), 400, "missing_required_field", "id")
