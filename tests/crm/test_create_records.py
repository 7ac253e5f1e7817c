"""``rev-users.create``, ``accounts.create`` and ``rev-orgs.create``: the
records an agent or the site's backend makes with a PAT, in DevRev's
shapes, each told to webhooks as ``*_created``."""

from __future__ import annotations

import asyncio

from tests.conversations.helpers import agent_ok, assert_error, identified_token, user_id_of
from tests.live_server import LiveServer


def test_create_account_workspace_and_user(server: LiveServer) -> None:
    account = agent_ok(server, "/accounts.create", {
        "display_name": "Acme", "external_refs": ["acme.example"], "domains": ["acme.example"],
        "websites": ["www.acme.example"], "tier": "gold", "owned_by": ["DEVU-1"],
    })["account"]  # fmt: skip
    assert account["display_name"] == "Acme" and account["external_refs"] == ["acme.example"]
    assert account["owned_by"] == [] and account["tier"] == "gold"
    org = agent_ok(server, "/rev-orgs.create", {
        "account": account["id"], "display_name": "Acme EU", "external_ref": "acme-eu",
        "environment": "production",
    })["rev_org"]  # fmt: skip
    assert org["display_name"] == "Acme EU" and org["external_ref"] == "acme-eu"
    user = agent_ok(server, "/rev-users.create", {
        "email": "ada@acme.example", "external_ref": "ada", "rev_org": org["id"],
        "phone_numbers": ["+14155550100"], "description": "VIP",
    })["rev_user"]  # fmt: skip
    assert user["display_name"] == "ada@acme.example" and user["rev_org"]["id"] == org["id"]
    assert user["is_verified"] is True
    got = agent_ok(server, "/rev-users.get", {"id": user["id"]})["rev_user"]
    assert got == user
    # The site's backend then opens a session for that user by its ref.
    assert user_id_of(identified_token(server, "ada")) == user["id"]
    anonymous = agent_ok(server, "/rev-users.create", {})["rev_user"]
    assert anonymous["display_name"] and "external_ref" not in anonymous


def test_create_refusals(server: LiveServer) -> None:
    agent_ok(server, "/rev-users.create", {"external_ref": "taken"})
    with server.client(server.pat) as c:
        r = c.post("/rev-users.create", json={"external_ref": "taken"})
        assert_error(r, 409, "conflict")
        assert_error(c.post("/rev-users.create", json={"rev_org": "nope"}), 400, "invalid_id",
                     "rev_org")  # fmt: skip
        assert_error(c.post("/rev-users.create", json={"rev_org": "REV-999999"}), 400,
                     "invalid_id", "rev_org")  # fmt: skip
        assert_error(c.post("/rev-users.create", json={"email": 5}), 400, "invalid_field",
                     "email")  # fmt: skip
        assert_error(c.post("/accounts.create", json={}), 400, "missing_required_field",
                     "display_name")  # fmt: skip
        no_account = {"display_name": "x", "account": "ACC-999999"}
        assert_error(c.post("/rev-orgs.create", json=no_account), 400, "invalid_id", "account")
        assert_error(c.post("/rev-users.create", json={"custom_fields": {"tnt__nope": 1}}),
                     400, "customization_validation_error")  # fmt: skip
    with server.client(server.aat) as c:
        assert_error(c.post("/rev-users.create", json={}), 403, "forbidden")


def test_two_creates_of_one_ref_at_once(any_server: LiveServer) -> None:
    server = any_server

    async def race() -> list[int]:
        async with server.async_client(server.pat) as c:
            answers = await asyncio.gather(*(
                c.post("/rev-users.create", json={"external_ref": "twin"}) for _ in range(4)
            ))  # fmt: skip
        return sorted(r.status_code for r in answers)

    assert asyncio.run(race()) == [201, 409, 409, 409]
    listed = agent_ok(server, "/rev-users.list", {"external_ref": ["twin"]})["rev_users"]
    assert len(listed) == 1
