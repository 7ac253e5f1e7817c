"""Assignment (DevRev's ``owned_by``) over the agents' API and the inbox
socket, and each agent's mail preference, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
from collections.abc import Coroutine, Iterator
from contextlib import ExitStack
from typing import Any, TypeVar

import pytest

from openplug.audit import SYSTEM
from openplug.conversations.assignment import owners_of
from openplug.db import Database
from openplug.identity.dev_users import create_dev_user, mail_preference
from tests.backends import postgres_database
from tests.conversations.helpers import (
    agent_ok,
    assert_error,
    identified_token,
    start_conversation,
    user_id_of,
    widget_ok,
)
from tests.live_server import LiveServer, make_settings
from tests.realtime.test_sockets import agent_socket, conv_topic, key_of, visitor_socket

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """A coroutine on a loop of its own (a test's loop may be running here)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def in_database(server: LiveServer, work: Any) -> Any:
    db = Database(server.database_url)
    try:
        async with db.write() as conn:
            return await work(conn)
    finally:
        await db.dispose()


class Agents:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.admin = agent_ok(server, "/dev-users.self", {})["dev_user"]

        async def make(conn: Any) -> Any:
            return await create_dev_user(conn, "sam@example.com", "Sam", "agent", actor=SYSTEM)

        sam = run(in_database(server, make))
        listed = agent_ok(server, "/dev-users.list", {})["dev_users"]
        self.sam = next(u for u in listed if u["display_id"] == f"DEVU-{sam.pk}")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Agents]:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else None
        server = LiveServer(make_settings(tmp_path_factory.mktemp("assign"), url)).start()
        stack.callback(server.stop)
        yield Agents(server)


def summary(user: dict[str, Any]) -> dict[str, Any]:
    """A dev user as ``owned_by`` lists it (DevRev's dev-user-summary)."""
    keys = ("type", "id", "display_id", "display_name", "email")
    return {k: user[k] for k in keys}


def fresh_visitor(server: LiveServer) -> str:
    return user_id_of(identified_token(server, f"assign-{secrets.token_hex(4)}"))


def listed(server: LiveServer, **filters: Any) -> list[str]:
    return [c["id"] for c in agent_ok(server, "/conversations.list", filters)["conversations"]]


def test_owned_by_on_create_get_list_and_update(world: Agents) -> None:
    server, admin, sam = world.server, world.admin, world.sam
    visitor = fresh_visitor(server)
    # Either id form, repeated once too: each agent counts once.
    owned = agent_ok(server, "/conversations.create", {
        "members": [visitor], "owned_by": [sam["id"], admin["display_id"], sam["display_id"]],
    })["conversation"]  # fmt: skip
    assert owned["owned_by"] == [summary(admin), summary(sam)]
    unowned = agent_ok(server, "/conversations.create", {"members": [visitor]})["conversation"]
    assert unowned["owned_by"] == []
    got = agent_ok(server, "/conversations.get", {"id": owned["id"]})["conversation"]
    assert got["owned_by"] == owned["owned_by"]
    page = agent_ok(server, "/conversations.list", {"members": [visitor]})["conversations"]
    assert {c["id"]: c["owned_by"] for c in page} == {
        owned["id"]: owned["owned_by"], unowned["id"]: [],
    }  # fmt: skip

    assert listed(server, members=[visitor], owned_by=[sam["display_id"]]) == [owned["id"]]
    assert listed(server, members=[visitor], is_unassigned=True) == [unowned["id"]]
    assert listed(server, members=[visitor], is_unassigned=False) == [owned["id"]]
    with server.client(server.pat) as c:
        r = c.get("/conversations.list", params={"members": visitor, "is_unassigned": "true"})
        assert [x["id"] for x in r.json()["conversations"]] == [unowned["id"]]
        r = c.get("/conversations.list", params={"members": visitor, "owned_by": admin["id"]})
        assert [x["id"] for x in r.json()["conversations"]] == [owned["id"]]

    # Reassign, leave alone, unassign.
    update = {"id": owned["id"], "owned_by": {"set": [sam["display_id"]]}}
    moved = agent_ok(server, "/conversations.update", update)["conversation"]
    assert moved["owned_by"] == [summary(sam)]
    assert moved["modified_date"] >= owned["modified_date"]
    kept = agent_ok(server, "/conversations.update", {"id": owned["id"], "title": "Renamed"})
    assert kept["conversation"]["owned_by"] == [summary(sam)]
    update = {"id": owned["id"], "owned_by": {"set": []}}
    assert agent_ok(server, "/conversations.update", update)["conversation"]["owned_by"] == []
    assert sorted(listed(server, members=[visitor], is_unassigned=True)) == sorted(
        [owned["id"], unowned["id"]]
    )
    assert run(in_database(server, lambda conn: owners_of(conn, key_of(owned["id"])))) == []


def test_refused_owners_change_nothing_and_name_the_field(world: Agents) -> None:
    server, sam = world.server, world.sam
    visitor = fresh_visitor(server)
    conv = agent_ok(server, "/conversations.create",
                    {"members": [visitor], "owned_by": [sam["id"]]})["conversation"]  # fmt: skip
    with server.client(server.pat) as c:
        for owners, field, error in [
            ([sam["id"], "DEVU-999999"], "owned_by.set[1]", "invalid_id"),  # no such agent
            ([visitor], "owned_by.set[0]", "invalid_id"),  # a rev user, not a dev user
            (["CONV-1"], "owned_by.set[0]", "invalid_id"),
            ("DEVU-1", "owned_by.set", "invalid_field"),  # not a list
            ([7], "owned_by.set[0]", "invalid_field"),
        ]:
            r = c.post("/conversations.update",
                       json={"id": conv["id"], "owned_by": {"set": owners}})  # fmt: skip
            assert_error(r, 400, error, field)
        r = c.post("/conversations.update", json={"id": conv["id"], "owned_by": [sam["id"]]})
        assert_error(r, 400, "invalid_field", "owned_by")  # DevRev's shape is {"set": [...]}
        r = c.post("/conversations.create",
                   json={"members": [visitor], "owned_by": [sam["id"], "DEVU-999999"]})  # fmt: skip
        assert_error(r, 400, "invalid_id", "owned_by[1]")
        r = c.post("/conversations.create", json={"members": [visitor], "owned_by": sam["id"]})
        assert_error(r, 400, "invalid_field", "owned_by")
        r = c.post("/conversations.list", json={"owned_by": ["REVU-1"]})
        assert_error(r, 400, "invalid_id", "owned_by")
    got = agent_ok(server, "/conversations.get", {"id": conv["id"]})["conversation"]
    assert got["owned_by"] == [summary(sam)]
    # The refused create made nothing.
    assert listed(server, members=[visitor]) == [conv["id"]]


def test_each_agent_chooses_their_notification_mails(world: Agents) -> None:
    server, admin, sam = world.server, world.admin, world.sam
    assert admin["mail_notifications"] == "all"  # the default
    changed = agent_ok(server, "/dev-users.self.update", {"mail_notifications": "mine"})
    assert changed["dev_user"]["mail_notifications"] == "mine"
    with server.client(server.pat) as c:
        assert c.get("/inbox/me").json()["agent"]["mail_notifications"] == "mine"
        assert c.get("/dev-users.self").json()["dev_user"]["mail_notifications"] == "mine"
        r = c.post("/dev-users.self.update", json={"mail_notifications": "daily"})
        assert_error(r, 400, "value_not_permitted", "mail_notifications")
        # DevRev's field, kept; its others (job_title...) accepted, ignored.
        r = c.post("/dev-users.self.update", json={"display_name": "Boss", "job_title": "cxo"})
        assert r.status_code == 200 and r.json()["dev_user"]["display_name"] == "Boss", r.text

    async def preferences(conn: Any) -> tuple[str, str]:
        return (
            await mail_preference(conn, key_of(admin["id"])),
            await mail_preference(conn, key_of(sam["id"])),
        )

    assert run(in_database(server, preferences)) == ("mine", "all")
    agent_ok(server, "/dev-users.self.update", {"mail_notifications": "all"})

    # The picker's list: every agent, oldest first, paged.
    first = agent_ok(server, "/dev-users.list", {"limit": 1})
    assert [u["id"] for u in first["dev_users"]] == [admin["id"]]
    rest = agent_ok(server, "/dev-users.list", {"cursor": first["next_cursor"]})
    assert [u["id"] for u in rest["dev_users"]] == [sam["id"]] and "next_cursor" not in rest
    assert "mail_notifications" not in rest["dev_users"][0]  # each agent's own business


async def test_assignment_is_live_for_agents_only(world: Agents) -> None:
    server, sam = world.server, world.sam
    token = identified_token(server, f"assign-live-{secrets.token_hex(4)}")
    conv = start_conversation(server, token, "who handles this?")
    user_topic = f"user:{key_of(user_id_of(token))}"
    async with agent_socket(server) as agent, visitor_socket(server, token) as visitor:
        await agent.subscribe("inbox")
        await visitor.subscribe(user_topic)
        await visitor.subscribe(conv_topic(conv))
        update = {"id": conv["id"], "owned_by": {"set": [sam["id"]]}}
        agent_ok(server, "/conversations.update", update)
        event = await agent.event("conversation.updated", "inbox", conversation=conv["id"])
        assert event["owned_by"] == [summary(sam)]
        assert event["status"] == "open"

        # Then a change visitors see; commit order holds, so had the
        # assignment reached the visitor it would come first.
        agent_ok(server, "/conversations.update", {"id": conv["id"], "status": "resolved"})
        event = await agent.event("conversation.updated", "inbox", status="resolved")
        assert event["owned_by"] == [summary(sam)]
        seen = await visitor.event("conversation.updated")
        assert seen["status"] == "resolved" and "owned_by" not in seen
        assert not any("sam@example.com" in raw for raw in visitor.raw)

        # A visitor's message reaches the inbox with the message itself.
        widget_ok(server, token, "messages.create", conversation=conv["id"], body="still there?")
        activity = await agent.event("conversation.activity", "inbox", last_seq=2)
        assert activity["message"]["body"] == "still there?"
        assert activity["message"]["from_agent"] is False
