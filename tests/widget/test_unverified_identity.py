"""``plugSDK.init({identity})`` and ``updateIdentity``: a visitor the page
names without a session token is an unverified user, and DevRev's rule
holds both ways: it never becomes or merges into a verified user, and its
ref is never reused for anyone else."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conversations.helpers import (
    agent_ok,
    anonymous_session,
    assert_error,
    identified_token,
    jwt_claims,
    second_app,
    start_conversation,
    user_id_of,
    widget,
    widget_ok,
)
from tests.live_server import LiveServer


def identify(server: LiveServer, app_id: str | None = None, **body: Any) -> httpx.Response:
    with server.client() as c:
        return c.post("/widget/identify", json={"app_id": app_id or server.app_id, **body})


def identify_ok(server: LiveServer, **body: Any) -> dict[str, Any]:
    r = identify(server, **body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_identity_makes_one_unverified_user_per_ref(any_server: LiveServer) -> None:
    server = any_server
    first = identify_ok(
        server,
        user_ref="page-user-1",
        user_traits={"display_name": "John Doe", "email": "john@example.com",
                     "phone_numbers": ["+14155550123"]},
    )  # fmt: skip
    assert first["user"]["is_verified"] is False and first["user"]["display_name"] == "John Doe"
    assert jwt_claims(first["session_token"])["ver"] is False
    again = identify_ok(server, user_ref="page-user-1")
    assert user_id_of(again["session_token"]) == user_id_of(first["session_token"])

    user = agent_ok(server, "/rev-users.get", {"id": first["user"]["id"]})["rev_user"]
    assert user["is_verified"] is False and user["external_ref"] == "page-user-1"
    assert user["email"] == "john@example.com" and user["phone_numbers"] == ["+14155550123"]
    # A returning visitor with the same traits (every page load) changes nothing.
    identify_ok(server, user_ref="page-user-1", user_traits={"display_name": "John Doe"})
    same = agent_ok(server, "/rev-users.get", {"id": first["user"]["id"]})["rev_user"]
    assert same["modified_date"] == user["modified_date"]

    # The same person's conversations, from any browser that names them.
    conv = start_conversation(server, first["session_token"], "hi from the page")
    (listed,) = widget_ok(server, again["session_token"], "conversations.list")["conversations"]
    assert listed["id"] == conv["id"]


def test_update_identity_changes_traits_never_the_ref(any_server: LiveServer) -> None:
    server = any_server
    token = identify_ok(server, user_ref="page-user-2")["session_token"]
    widget_ok(server, token, "identity.update",
              user_traits={"display_name": "Jane Roe", "email": "jane@example.com"})  # fmt: skip
    user = agent_ok(server, "/rev-users.get", {"id": user_id_of(token)})["rev_user"]
    assert user["display_name"] == "Jane Roe" and user["email"] == "jane@example.com"
    assert user["external_ref"] == "page-user-2"
    r = widget(server, token, "identity.update", user_traits={"display_name": "X"}, user_ref="b")
    assert_error(r, 400, "invalid_field", "user_ref")
    r = widget(server, token, "identity.update", user_traits={"email": "not an address"})
    assert_error(r, 400, "invalid_field", "user_traits.email")
    r = widget(server, token, "identity.update", user_traits={"phone_numbers": ["123"]})
    assert_error(r, 400, "invalid_field", "user_traits.phone_numbers[0]")
    # Anonymous and verified visitors have no page identity to update.
    for other in (anonymous_session(server)["session_token"], identified_token(server, "v@x.io")):
        assert_error(widget(server, other, "identity.update", user_traits={}), 403, "forbidden")


def test_a_verified_users_ref_cannot_be_claimed_by_a_page(any_server: LiveServer) -> None:
    server = any_server
    verified = identified_token(server, "alice@example.com")
    secret = start_conversation(server, verified, "my private order")
    r = identify(server, user_ref="alice@example.com")
    assert_error(r, 409, "conflict", "user_ref")
    assert "verified" in r.json()["message"]
    # Nothing of Alice's reached anyone.
    (still,) = widget_ok(server, verified, "conversations.list")["conversations"]
    assert still["id"] == secret["id"]


def test_an_unverified_user_is_never_made_verified(any_server: LiveServer) -> None:
    """Whoever claimed a ref first on the page must never end up holding the
    verified user when the site's backend later identifies that ref."""
    server = any_server
    claimed = identify_ok(server, user_ref="bob@example.com")["session_token"]
    start_conversation(server, claimed, "written by whoever claimed bob")
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "bob@example.com"}})
        assert_error(r, 409, "conflict", "rev_info.user_ref")
        # Nor by its id.
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_id": user_id_of(claimed)}})
        assert_error(r, 409, "conflict", "rev_info.user_id")
    user = agent_ok(server, "/rev-users.get", {"id": user_id_of(claimed)})["rev_user"]
    assert user["is_verified"] is False


def test_an_unverified_user_is_never_merged_into_a_verified_one(server: LiveServer) -> None:
    claimed = identify_ok(server, user_ref="carol-page")["session_token"]
    start_conversation(server, claimed, "unverified words")
    verified = identified_token(server, "carol@example.com")
    # The merge takes an anonymous credential; a page identity has none, and
    # its session token is not one.
    r = widget(server, verified, "merge", anonymous_credential=claimed)
    assert_error(r, 400, "invalid_field", "anonymous_credential")
    assert widget_ok(server, verified, "conversations.list")["conversations"] == []
    # An unverified visitor cannot merge anything into itself either.
    anon = anonymous_session(server)
    r = widget(server, claimed, "merge", anonymous_credential=anon["anonymous_credential"])
    assert_error(r, 403, "forbidden")


def test_refs_are_not_reused_across_apps_and_identity_follows_the_app_rules(
    server: LiveServer,
) -> None:
    other_app, _ = second_app(server)
    identify_ok(server, user_ref="shared-ref")
    assert_error(identify(server, other_app, user_ref="shared-ref"), 409, "conflict", "user_ref")
    assert_error(identify(server, "app_nope", user_ref="x"), 400, "invalid_field", "app_id")
    assert_error(identify(server), 400, "missing_required_field", "user_ref")
    assert_error(identify(server, user_ref=""), 400, "invalid_field", "user_ref")
    r = identify(server, user_ref="y", user_traits={"custom_fields": {"tnt__nope": 1}})
    assert r.status_code == 400 and r.json()["field_name"] == "user_traits.custom_fields.tnt__nope"
    import asyncio

    asyncio.run(server.sql("UPDATE apps SET require_identification = true"))
    assert_error(identify(server, user_ref="shared-ref"), 403, "forbidden")
