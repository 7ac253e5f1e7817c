"""Identify semantics of ``auth-tokens.create`` with ``rev_info``: one rev
user per ``user_ref``, the account > workspace > user structure, moves,
trait merging, no write when nothing changed, and concurrent first visits."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.helpers import jwt_claims
from tests.live_server import LiveServer

SESSION = "/auth-tokens.create"


# --- helpers ------------------------------------------------------------------------


def identify(server: LiveServer, rev_info: dict[str, Any]) -> str:
    """The rev user id (the session token's ``sub``) for ``rev_info``."""
    with server.client(server.aat) as c:
        r = c.post(SESSION, json={"rev_info": rev_info})
    assert r.status_code == 201, r.text
    return jwt_claims(r.json()["access_token"])["sub"]


def pat_get(server: LiveServer, path: str, **params: Any) -> dict[str, Any]:
    with server.client(server.pat) as c:
        r = c.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def user(server: LiveServer, user_id: str) -> dict[str, Any]:
    return pat_get(server, "/rev-users.get", id=user_id)["rev_user"]


def all_users(server: LiveServer) -> list[dict[str, Any]]:
    return pat_get(server, "/rev-users.list", limit=100)["rev_users"]


def all_accounts(server: LiveServer) -> list[dict[str, Any]]:
    return pat_get(server, "/accounts.list", limit=100)["accounts"]


def all_orgs(server: LiveServer) -> list[dict[str, Any]]:
    return pat_get(server, "/rev-orgs.list", limit=100)["rev_orgs"]


def account_by_ref(server: LiveServer, ref: str) -> dict[str, Any]:
    (account,) = pat_get(server, "/accounts.list", external_refs=ref)["accounts"]
    return account


def org_by_ref(server: LiveServer, ref: str) -> dict[str, Any]:
    (org,) = pat_get(server, "/rev-orgs.list", external_ref=ref)["rev_orgs"]
    return org


def declare(server: LiveServer, leaf_type: str, fields: list[dict[str, Any]]) -> None:
    with server.client(server.pat) as c:
        r = c.post(
            "/schemas.custom.set",
            json={"type": "tenant_fragment", "leaf_type": leaf_type, "fields": fields},
        )
    assert r.status_code == 201, r.text


def ref_of(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else obj["id"]


@contextmanager
def sqlite_watch(server: LiveServer) -> Iterator[sqlite3.Connection]:
    """A persistent connection of our own to the server's SQLite file.
    ``PRAGMA data_version`` on it changes only when another connection
    commits a write."""
    path = make_url(server.database_url).database
    assert path
    with closing(sqlite3.connect(path, isolation_level=None)) as conn:
        yield conn


def data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


# --- one user per ref ------------------------------------------------------------------


def test_same_rev_info_twice_is_one_user(server: LiveServer) -> None:
    info = {"user_ref": "ann-1", "user_traits": {"display_name": "Ann"}}
    with server.client(server.aat) as c:
        first = c.post(SESSION, json={"rev_info": info})
        second = c.post(SESSION, json={"rev_info": info})
    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    sub1 = jwt_claims(first.json()["access_token"])["sub"]
    sub2 = jwt_claims(second.json()["access_token"])["sub"]
    assert sub1 == sub2
    assert first.json()["access_token"] != second.json()["access_token"]
    (only,) = all_users(server)
    assert only["id"] == sub1
    assert only["external_ref"] == "ann-1"
    assert only["display_name"] == "Ann"


def test_different_refs_are_different_users(server: LiveServer) -> None:
    a = identify(server, {"user_ref": "ann"})
    b = identify(server, {"user_ref": "bob"})
    assert a != b
    assert {u["external_ref"] for u in all_users(server)} == {"ann", "bob"}


def test_token_response_shape(server: LiveServer) -> None:
    with server.client(server.aat) as c:
        r = c.post(SESSION, json={"rev_info": {"user_ref": "ann"}, "expires_in_mins": 30})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 30 * 60
    claims = jwt_claims(body["access_token"])
    assert claims["sub"].startswith("don:identity:openplug:devo/")
    assert ":revu/" in claims["sub"]


def test_oauth_style_form_and_org_aliases_mean_the_same(server: LiveServer) -> None:
    info = {"user_ref": "ann", "account_ref": "acme", "workspace_ref": "acme-dev"}
    sub = identify(server, info)
    legacy = {
        "user_ref": "ann",
        "account_ref": "acme",
        "org_ref": "acme-dev",
        "org_traits": {"tier": "gold"},
    }
    with server.client(server.aat) as c:
        r = c.post(
            SESSION,
            json={
                "grant_type": "urn:devrev:params:oauth:grant-type:token-issue",
                "requested_token_type": "urn:devrev:params:oauth:token-type:session",
                "subject_token_type": "urn:devrev:params:oauth:token-type:rev_info",
                "subject_token": json.dumps(legacy),
            },
        )
    assert r.status_code in (200, 201), r.text
    assert jwt_claims(r.json()["access_token"])["sub"] == sub
    assert len(all_users(server)) == 1
    (org,) = all_orgs(server)
    assert org["external_ref"] == "acme-dev"
    assert org["tier"] == "gold"


def test_user_id_names_an_existing_user(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann"})
    display_id = user(server, sub)["display_id"]
    assert identify(server, {"user_id": sub, "user_traits": {"display_name": "By id"}}) == sub
    assert identify(server, {"user_id": display_id}) == sub
    assert user(server, sub)["display_name"] == "By id"
    with server.client(server.aat) as c:
        unknown = c.post(SESSION, json={"rev_info": {"user_id": "REVU-4242"}})
        other_ref = c.post(SESSION, json={"rev_info": {"user_id": sub, "user_ref": "bob"}})
    assert unknown.status_code == 400, unknown.text
    assert unknown.json()["field_name"] == "rev_info.user_id"
    assert other_ref.status_code == 400, other_ref.text
    assert other_ref.json()["field_name"] == "rev_info.user_ref"
    assert len(all_users(server)) == 1


# --- structure ---------------------------------------------------------------------------


def test_three_levels_account_workspace_user(server: LiveServer) -> None:
    sub = identify(
        server,
        {
            "user_ref": "ann",
            "account_ref": "acme",
            "workspace_ref": "acme-dev",
            "account_traits": {"display_name": "Acme"},
            "workspace_traits": {"display_name": "Acme Dev"},
        },
    )
    account = account_by_ref(server, "acme")
    org = org_by_ref(server, "acme-dev")
    u = user(server, sub)
    assert account["display_name"] == "Acme"
    assert account["external_refs"] == ["acme"]
    assert org["display_name"] == "Acme Dev"
    assert ref_of(org["account"]) == account["id"]
    assert ref_of(u["rev_org"]) == org["id"]
    assert u["rev_org"]["display_name"] == "Acme Dev"
    assert ref_of(u.get("account")) == account["id"]


def test_refs_without_traits_create_named_records(server: LiveServer) -> None:
    identify(server, {"user_ref": "ann", "account_ref": "acme", "workspace_ref": "acme-dev"})
    account = account_by_ref(server, "acme")
    org = org_by_ref(server, "acme-dev")
    assert account["display_name"]
    assert org["display_name"]
    for key in ("domains", "websites", "phone_numbers"):
        assert isinstance(account[key], list), f"account {key} is {account[key]!r}"
    assert isinstance(org["phone_numbers"], list)


def test_two_levels_account_without_workspace(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann", "account_ref": "acme"})
    u = user(server, sub)
    account = account_by_ref(server, "acme")
    assert "rev_org" not in u
    assert ref_of(u["account"]) == account["id"]
    assert all_orgs(server) == []


def test_workspace_without_account(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann", "workspace_ref": "solo"})
    u = user(server, sub)
    org = org_by_ref(server, "solo")
    assert "account" not in org
    assert ref_of(u["rev_org"]) == org["id"]
    assert all_accounts(server) == []


def test_user_moves_to_another_workspace_and_account(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    again = identify(server, {"user_ref": "ann", "account_ref": "a2", "workspace_ref": "w2"})
    assert again == sub
    u = user(server, sub)
    assert ref_of(u["rev_org"]) == org_by_ref(server, "w2")["id"]
    assert ref_of(u["account"]) == account_by_ref(server, "a2")["id"]
    assert len(all_users(server)) == 1
    assert sorted(o["external_ref"] for o in all_orgs(server)) == ["w1", "w2"]
    assert sorted(a["external_refs"][0] for a in all_accounts(server)) == ["a1", "a2"]
    # The old workspace is untouched: still under its account.
    assert ref_of(org_by_ref(server, "w1")["account"]) == account_by_ref(server, "a1")["id"]


def test_user_moves_from_workspace_to_account_directly(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    identify(server, {"user_ref": "ann", "account_ref": "a2"})
    u = user(server, sub)
    assert "rev_org" not in u
    assert ref_of(u["account"]) == account_by_ref(server, "a2")["id"]
    assert len(all_users(server)) == 1


def test_user_moves_to_another_workspace_of_the_same_account(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w2"})
    u = user(server, sub)
    assert ref_of(u["rev_org"]) == org_by_ref(server, "w2")["id"]
    assert ref_of(org_by_ref(server, "w2")["account"]) == account_by_ref(server, "a1")["id"]
    assert len(all_accounts(server)) == 1


def test_user_sent_without_refs_stays_where_they_are(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    identify(server, {"user_ref": "ann", "user_traits": {"display_name": "Ann"}})
    u = user(server, sub)
    assert ref_of(u["rev_org"]) == org_by_ref(server, "w1")["id"]
    assert ref_of(u["account"]) == account_by_ref(server, "a1")["id"]


def test_a_workspace_of_one_account_named_with_another_is_refused(server: LiveServer) -> None:
    """DevRev's rule: a workspace cannot be part of two accounts, so naming
    w1 (in a1) with a2 is an error, not a move; nothing changes, and Bob,
    also in w1, stays in a1."""
    sub = identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    bob = identify(server, {"user_ref": "bob", "account_ref": "a1", "workspace_ref": "w1"})
    with server.client(server.aat) as c:
        rev_info = {"user_ref": "ann", "account_ref": "a2", "workspace_ref": "w1"}
        r = c.post("/auth-tokens.create", json={"rev_info": rev_info})
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "conflict"
    assert r.json()["field_name"] == "rev_info.workspace_ref"
    a1 = account_by_ref(server, "a1")
    assert ref_of(org_by_ref(server, "w1")["account"]) == a1["id"]
    assert ref_of(user(server, sub)["account"]) == a1["id"]
    assert ref_of(user(server, bob)["account"]) == a1["id"]
    assert [a["external_refs"] for a in all_accounts(server)] == [["a1"]]


def test_workspace_ref_alone_keeps_the_workspaces_account(server: LiveServer) -> None:
    identify(server, {"user_ref": "ann", "account_ref": "a1", "workspace_ref": "w1"})
    bob = identify(server, {"user_ref": "bob", "workspace_ref": "w1"})
    a1 = account_by_ref(server, "a1")
    assert ref_of(org_by_ref(server, "w1")["account"]) == a1["id"]
    assert ref_of(user(server, bob)["account"]) == a1["id"]


# --- traits ------------------------------------------------------------------------------


def test_traits_merge(server: LiveServer) -> None:
    declare(
        server,
        "rev_user",
        [{"name": n, "field_type": "text"} for n in ("a", "b", "c")],
    )
    declare(server, "account", [{"name": "x", "field_type": "text"}])
    sub = identify(
        server,
        {
            "user_ref": "ann",
            "account_ref": "acme",
            "user_traits": {
                "display_name": "Ann",
                "email": "ann@acme.example",
                "phone_numbers": ["+911122334455"],
                "description": "first",
                "custom_fields": {"tnt__a": "a1", "tnt__b": "b1"},
            },
            "account_traits": {
                "display_name": "Acme",
                "domains": ["acme.example"],
                "tier": "gold",
                "custom_fields": {"tnt__x": "x1"},
            },
        },
    )
    identify(
        server,
        {
            "user_ref": "ann",
            "account_ref": "acme",
            "user_traits": {
                "display_name": "Ann B.",
                "custom_fields": {"tnt__b": "b2", "tnt__c": "c2"},
            },
            "account_traits": {"domains": ["acme.example", "acme.test"]},
        },
    )
    u = user(server, sub)
    assert u["display_name"] == "Ann B."  # sent: replaced
    assert u["email"] == "ann@acme.example"  # omitted: kept
    assert u["phone_numbers"] == ["+911122334455"]
    assert u["description"] == "first"
    assert u["custom_fields"] == {"tnt__a": "a1", "tnt__b": "b2", "tnt__c": "c2"}
    account = account_by_ref(server, "acme")
    assert account["display_name"] == "Acme"
    assert account["domains"] == ["acme.example", "acme.test"]
    assert account["tier"] == "gold"
    assert account["custom_fields"] == {"tnt__x": "x1"}

    # null clears one custom field, leaving the others.
    identify(server, {"user_ref": "ann", "user_traits": {"custom_fields": {"tnt__a": None}}})
    assert user(server, sub)["custom_fields"] == {"tnt__b": "b2", "tnt__c": "c2"}
    # An empty custom_fields object changes nothing.
    identify(server, {"user_ref": "ann", "user_traits": {"custom_fields": {}}})
    assert user(server, sub)["custom_fields"] == {"tnt__b": "b2", "tnt__c": "c2"}


def test_phone_numbers_sent_replace_the_list(server: LiveServer) -> None:
    sub = identify(
        server,
        {"user_ref": "ann", "user_traits": {"phone_numbers": ["+911122334455", "+12025550123"]}},
    )
    identify(server, {"user_ref": "ann", "user_traits": {"phone_numbers": ["+12025550199"]}})
    assert user(server, sub)["phone_numbers"] == ["+12025550199"]


@pytest.mark.parametrize(
    "trait", ["display_name", "phone_numbers", "email", "description", "custom_fields"]
)
def test_null_trait_for_an_existing_user_is_handled(server: LiveServer, trait: str) -> None:
    """Website backends often serialise absent values as null. Whatever the
    server makes of a null trait (ignore it, clear it, or refuse it naming
    the field), it must not be a 500, and the user must keep a display name
    and a list of phone numbers (the documented shape)."""
    sub = identify(
        server,
        {
            "user_ref": "ann",
            "user_traits": {
                "display_name": "Ann",
                "email": "ann@acme.example",
                "description": "d",
                "phone_numbers": ["+12025550123"],
            },
        },
    )
    with server.client(server.aat) as c:
        r = c.post(SESSION, json={"rev_info": {"user_ref": "ann", "user_traits": {trait: None}}})
    assert r.status_code in (201, 400), f"{trait}: null -> {r.status_code} {r.text}"
    if r.status_code == 400:
        assert r.json()["field_name"] == f"rev_info.user_traits.{trait}"
    u = user(server, sub)
    assert u["display_name"]
    assert isinstance(u["phone_numbers"], list)


@pytest.mark.parametrize("trait", ["display_name", "phone_numbers"])
def test_null_trait_for_a_new_user_is_handled(server: LiveServer, trait: str) -> None:
    with server.client(server.aat) as c:
        r = c.post(SESSION, json={"rev_info": {"user_ref": "new", "user_traits": {trait: None}}})
    assert r.status_code in (201, 400), f"{trait}: null -> {r.status_code} {r.text}"
    if r.status_code == 201:
        (u,) = all_users(server)
        assert u["display_name"]
        assert isinstance(u["phone_numbers"], list)
    else:
        assert r.json()["field_name"] == f"rev_info.user_traits.{trait}"
        assert all_users(server) == []


@pytest.mark.parametrize(
    ("part", "trait"),
    [("account_traits", "display_name"), ("account_traits", "domains"),
     ("account_traits", "websites"), ("workspace_traits", "display_name"),
     ("workspace_traits", "phone_numbers")],
)  # fmt: skip
def test_null_trait_of_account_or_workspace_is_handled(
    server: LiveServer, part: str, trait: str
) -> None:
    info = {"user_ref": "ann", "account_ref": "acme", "workspace_ref": "acme-dev"}
    identify(server, info)
    with server.client(server.aat) as c:
        r = c.post(SESSION, json={"rev_info": {**info, part: {trait: None}}})
    assert r.status_code in (201, 400), f"{part}.{trait}: null -> {r.status_code} {r.text}"
    if r.status_code == 400:
        assert r.json()["field_name"] == f"rev_info.{part}.{trait}"
    account = account_by_ref(server, "acme")
    org = org_by_ref(server, "acme-dev")
    assert account["display_name"]
    assert org["display_name"]
    for key in ("domains", "websites", "phone_numbers"):
        assert isinstance(account[key], list), f"account {key} is {account[key]!r}"
    assert isinstance(org["phone_numbers"], list), f"rev org phone_numbers is {org!r}"


def test_generated_display_name_when_none_is_given(server: LiveServer) -> None:
    anon = identify(server, {"user_ref": "no-name"})
    name = user(server, anon)["display_name"]
    assert isinstance(name, str) and name.strip()
    mailed = identify(server, {"user_ref": "mailed", "user_traits": {"email": "ann@acme.example"}})
    assert user(server, mailed)["display_name"] == "ann@acme.example"
    # A later identify without a display name keeps the one given first.
    identify(server, {"user_ref": "no-name"})
    assert user(server, anon)["display_name"] == name


def test_identified_users_are_verified_and_active(server: LiveServer) -> None:
    sub = identify(server, {"user_ref": "ann"})
    u = user(server, sub)
    assert u["is_verified"] is True
    assert u["state"] == "active"


# --- no write when nothing changed ---------------------------------------------------------

RICH = {
    "user_ref": "ann",
    "account_ref": "acme",
    "workspace_ref": "acme-dev",
    "user_traits": {
        # Values the server normalises: identical input must still mean
        # "nothing changed" after normalisation.
        "email": "Ann@ACME.example",
        "display_name": "  Ann  ",
        "phone_numbers": ["+911122334455"],
        "description": "x",
        "custom_fields": {
            "tnt__seen": "2024-05-31T12:00:00+02:00",
            "tnt__score": 3,
            "tnt__tags": ["a", "b"],
        },
    },
    "workspace_traits": {"display_name": "Acme Dev", "tier": "gold"},
    "account_traits": {
        "display_name": "Acme",
        "domains": ["ACME.example"],
        "websites": ["www.acme.example"],
        "tier": "enterprise",
    },
}


def declare_rich(server: LiveServer) -> None:
    declare(
        server,
        "rev_user",
        [
            {"name": "seen", "field_type": "timestamp"},
            {"name": "score", "field_type": "double"},
            {"name": "tags", "field_type": "array", "base_type": "text"},
        ],
    )


async def modified_ats(server: LiveServer) -> dict[str, Any]:
    out = {}
    for table in ("rev_users", "accounts", "rev_orgs"):
        out[table] = await server.sql(f"SELECT external_ref, modified_at FROM {table}")
    return out


async def test_identical_identify_leaves_modified_dates_alone(any_server: LiveServer) -> None:
    server = any_server
    declare_rich(server)
    sub = identify(server, RICH)
    before_api = user(server, sub)["modified_date"]
    before_sql = await modified_ats(server)
    assert identify(server, RICH) == sub
    assert user(server, sub)["modified_date"] == before_api
    assert await modified_ats(server) == before_sql


async def test_identical_identify_does_not_write_to_sqlite(server: LiveServer) -> None:
    declare_rich(server)
    sub = identify(server, RICH)
    # Use the PAT once before watching: its first use records last_used_at.
    before = user(server, sub)
    with sqlite_watch(server) as watch:
        v1 = data_version(watch)
        assert identify(server, RICH) == sub
        v2 = data_version(watch)
        assert v2 == v1, "an identical identify committed a write"
        # The watch is live: a changed trait is a write it sees.
        changed = {**RICH, "user_traits": {**RICH["user_traits"], "description": "y"}}
        assert identify(server, changed) == sub
        v3 = data_version(watch)
        assert v3 != v2, "a changed trait was not written (or the watch is blind)"
    after = user(server, sub)
    assert after["description"] == "y"
    assert after["modified_date"] > before["modified_date"]


async def test_changed_trait_touches_only_its_own_record(any_server: LiveServer) -> None:
    server = any_server
    declare_rich(server)
    sub = identify(server, RICH)
    before = {t: dict(rows) for t, rows in (await modified_ats(server)).items()}
    changed = {**RICH, "user_traits": {**RICH["user_traits"], "display_name": "Ann B."}}
    identify(server, changed)
    after = {t: dict(rows) for t, rows in (await modified_ats(server)).items()}
    assert after["rev_users"]["ann"] > before["rev_users"]["ann"]
    assert after["accounts"] == before["accounts"]
    assert after["rev_orgs"] == before["rev_orgs"]
    assert user(server, sub)["display_name"] == "Ann B."

    before = after
    changed_account = {**changed, "account_traits": {**RICH["account_traits"], "tier": "smb"}}
    identify(server, changed_account)
    after = {t: dict(rows) for t, rows in (await modified_ats(server)).items()}
    assert after["accounts"]["acme"] > before["accounts"]["acme"]
    assert after["rev_users"] == before["rev_users"]
    assert after["rev_orgs"] == before["rev_orgs"]


# --- concurrency --------------------------------------------------------------------------


async def _identify_all(server: LiveServer, infos: list[dict[str, Any]]) -> list[httpx.Response]:
    async with server.async_client(server.aat) as c:
        return await asyncio.gather(*(c.post(SESSION, json={"rev_info": i}) for i in infos))


async def _count(server: LiveServer, table: str) -> int:
    (row,) = await server.sql(f"SELECT count(*) FROM {table}")
    return int(row[0])


async def test_concurrent_first_identifies_of_one_user(any_server: LiveServer) -> None:
    server = any_server
    info = {
        "user_ref": "racer",
        "account_ref": "race-acct",
        "workspace_ref": "race-ws",
        "user_traits": {"display_name": "Racer", "email": "racer@acme.example"},
        "workspace_traits": {"display_name": "Race WS"},
        "account_traits": {"display_name": "Race Acct", "domains": ["race.example"]},
    }
    responses = await _identify_all(server, [info] * 50)
    statuses = [r.status_code for r in responses]
    assert statuses == [201] * 50, [r.text for r in responses if r.status_code != 201][:3]
    subs = {jwt_claims(r.json()["access_token"])["sub"] for r in responses}
    assert len(subs) == 1
    assert await _count(server, "rev_users") == 1
    assert await _count(server, "rev_orgs") == 1
    assert await _count(server, "accounts") == 1
    (u,) = all_users(server)
    assert u["id"] in subs
    assert ref_of(u["rev_org"]) == org_by_ref(server, "race-ws")["id"]
    assert (
        ref_of(org_by_ref(server, "race-ws")["account"])
        == account_by_ref(server, "race-acct")["id"]
    )


async def test_concurrent_first_identifies_of_many_users_in_one_account(
    any_server: LiveServer,
) -> None:
    server = any_server
    infos = [
        {
            "user_ref": f"member-{i}",
            "account_ref": "shared-acct",
            "account_traits": {"display_name": "Shared"},
        }
        for i in range(50)
    ]
    responses = await _identify_all(server, infos)
    assert [r.status_code for r in responses] == [201] * 50, [
        r.text for r in responses if r.status_code != 201
    ][:3]
    subs = [jwt_claims(r.json()["access_token"])["sub"] for r in responses]
    assert len(set(subs)) == 50
    assert await _count(server, "accounts") == 1
    assert await _count(server, "rev_users") == 50
    account = account_by_ref(server, "shared-acct")
    users = all_users(server)
    assert {u["external_ref"] for u in users} == {f"member-{i}" for i in range(50)}
    assert {ref_of(u["account"]) for u in users} == {account["id"]}
    # Each token names the user of its own ref.
    by_id = {u["id"]: u["external_ref"] for u in users}
    assert [by_id[s] for s in subs] == [i["user_ref"] for i in infos]
