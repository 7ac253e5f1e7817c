"""tags.* against a live server on SQLite and PostgreSQL: DevRev's shapes,
who may change them, one name per org (also when two creates race), and
how conversations name tags by id next to the free-form ids kept from
before tags.* existed."""

from __future__ import annotations

import asyncio
import concurrent.futures
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from openplug.audit import SYSTEM
from openplug.identity import access_tokens
from openplug.identity.dev_users import create_dev_user
from tests.backends import postgres_database
from tests.conversations.helpers import assert_error, identified_token, user_id_of
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer, make_settings
from tests.webhooks.devrev_schema import check

Json = dict[str, Any]


class World:
    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.agent_pat: str = _in_thread(self._agent_pat)

    async def _agent_pat(self) -> str:
        """A second agent (not an admin) with a PAT, as the CLI makes one."""
        engine = create_async_engine(self.server.database_url)
        runtime = self.server.runtime
        assert runtime is not None
        try:
            async with engine.begin() as conn:
                agent = await create_dev_user(conn, "sam@tags.example", None, "agent", actor=SYSTEM)
                secret, _ = await access_tokens.issue_access_token(
                    conn, runtime.secrets.token_pepper, kind="pat", dev_user_id=agent.pk,
                    app_pk=None, expires_in_days=1, token_hint="tags", actor=SYSTEM,
                )  # fmt: skip
        finally:
            await engine.dispose()
        REGISTRY.observe_text(secret)
        return secret

    def admin(self) -> httpx.Client:
        return self.server.client(self.server.pat)

    def agent(self) -> httpx.Client:
        return self.server.client(self.agent_pat)

    def ok(self, path: str, body: Json, status: int = 200) -> Json:
        with self.admin() as c:
            r = c.post(path, json=body)
        assert r.status_code == status, r.text
        out: Json = r.json()
        return out

    def create(self, name: str, **fields: Any) -> Json:
        body = self.ok("/tags.create", {"name": name, **fields}, 201)
        check("tags-create-response", body)
        return dict(body["tag"])


def _in_thread(work: Any) -> Any:
    """A coroutine on a loop of its own (a test's loop may be running here)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work()).result()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else None
        server = LiveServer(make_settings(tmp_path_factory.mktemp("tags"), url)).start()
        stack.callback(server.stop)
        yield World(server)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def test_every_call_in_devrev_shapes(world: World) -> None:
    name = unique("billing")
    tag = world.create(name, description="Money questions", allowed_values=["p1", "p2", "p1"])
    assert tag["name"] == name
    assert tag["display_id"].startswith("TAG-")
    assert tag["id"].startswith("don:core:openplug:devo/") and ":tag/" in tag["id"]
    assert tag["allowed_values"] == ["p1", "p2"]
    assert tag["description"] == "Money questions"
    bare = world.create(unique("bare"))
    assert "description" not in bare and bare["allowed_values"] == []

    with world.agent() as c:  # agents read, by either id spelling, GET or POST
        for r in (c.get("/tags.get", params={"id": tag["id"]}),
                  c.post("/tags.get", json={"id": tag["display_id"]})):  # fmt: skip
            assert r.status_code == 200, r.text
            check("tags-get-response", r.json())
            assert r.json()["tag"] == tag
        listed = c.get("/tags.list", params={"name": [name, bare["name"]]})
        assert listed.status_code == 200, listed.text
        check("tags-list-response", listed.json())
        assert [t["id"] for t in listed.json()["tags"]] == [tag["id"], bare["id"]]
        by_name = c.post(
            "/tags.list", json={"name": [bare["name"], name], "sort_by": ["name:desc"]}
        )
        assert by_name.status_code == 200, by_name.text
        names = [t["name"] for t in by_name.json()["tags"]]
        assert names == sorted([name, bare["name"]], reverse=True)
        first = c.post("/tags.list", json={"name": [name, bare["name"]], "limit": 1}).json()
        assert [t["id"] for t in first["tags"]] == [tag["id"]]
        rest = c.post("/tags.list", json={"name": [name, bare["name"]],
                                          "cursor": first["next_cursor"]}).json()  # fmt: skip
        assert [t["id"] for t in rest["tags"]] == [bare["id"]]
        assert "next_cursor" not in rest

    renamed = world.ok("/tags.update", {"id": tag["display_id"], "name": name + "-x",
                                        "description": "Invoices",
                                        "allowed_values": {"set": ["low"]}})  # fmt: skip
    check("tags-update-response", renamed)
    assert renamed["tag"]["name"] == name + "-x"
    assert renamed["tag"]["allowed_values"] == ["low"]
    assert renamed["tag"]["description"] == "Invoices"
    assert renamed["tag"]["created_date"] == tag["created_date"]

    deleted = world.ok("/tags.delete", {"id": tag["id"]})
    check("tags-delete-response", deleted)
    assert deleted == {}
    with world.admin() as c:
        assert_error(c.post("/tags.get", json={"id": tag["id"]}), 404, "not_found")


def test_rejections_name_the_field(world: World) -> None:
    tag = world.create(unique("dup"))
    other = world.create(unique("other"))
    with world.admin() as c:
        for path in ("/tags.get", "/tags.update", "/tags.delete"):
            assert_error(c.post(path, json={"id": "ACC-1"}), 400, "invalid_id", "id")
            assert_error(c.post(path, json={"id": "TAG-x"}), 400, "invalid_id", "id")
            assert_error(c.post(path, json={"id": "TAG-999999"}), 404, "not_found")
        assert_error(c.get("/tags.get", params={"id": "nope"}), 400, "invalid_id", "id")
        assert_error(c.post("/tags.create", json={}), 400, "missing_required_field", "name")
        assert_error(c.post("/tags.create", json={"name": "   "}), 400, "invalid_field", "name")
        assert_error(c.post("/tags.create", json={"name": tag["name"]}), 409, "conflict")
        assert_error(
            c.post("/tags.update", json={"id": other["id"], "name": tag["name"]}), 409, "conflict"
        )
    with world.agent() as c:  # an agent, not an admin: reads only
        for path, body in (("/tags.create", {"name": unique("mine")}),
                           ("/tags.update", {"id": tag["id"], "name": unique("mine")}),
                           ("/tags.delete", {"id": tag["id"]})):  # fmt: skip
            assert_error(c.post(path, json=body), 403, "forbidden")
        assert c.post("/tags.get", json={"id": tag["id"]}).json()["tag"]["name"] == tag["name"]


def test_two_creates_of_one_name_race_and_one_wins(world: World) -> None:
    name = unique("race")
    start = threading.Barrier(4)

    def create() -> int:
        with world.admin() as c:
            start.wait(timeout=10)
            return c.post("/tags.create", json={"name": name}).status_code

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: create(), range(4)))
    assert codes == [201, 409, 409, 409]
    with world.admin() as c:
        assert len(c.post("/tags.list", json={"name": [name]}).json()["tags"]) == 1


def test_conversations_name_tags_by_id_and_keep_free_form_ones(world: World) -> None:
    server = world.server
    visitor = user_id_of(identified_token(server, unique("tagged")))
    tag = world.create(unique("vip"), allowed_values=["gold", "silver"])
    other = world.create(unique("lead"))
    made = world.ok("/conversations.create", {
        "type": "support", "members": [visitor],
        "tags": [{"id": tag["id"], "value": "gold"}, {"id": tag["display_id"]},
                 {"id": "legacy-text"}, {"id": "TAG-999999"}, {"id": other["display_id"]}],
    }, 201)["conversation"]  # fmt: skip
    summary = {"id": tag["id"], "display_id": tag["display_id"], "name": tag["name"]}
    other_summary = {"id": other["id"], "display_id": other["display_id"], "name": other["name"]}
    # Either spelling names the tag once (the last value given wins);
    # free-form ids read back exactly as before tags.* existed.
    assert made["tags"] == [
        {"tag": summary},
        {"tag": {"id": "legacy-text", "name": "legacy-text"}},
        {"tag": {"id": "TAG-999999", "name": "TAG-999999"}},
        {"tag": other_summary},
    ]
    world.ok("/tags.update", {"id": tag["id"], "name": tag["name"] + "-renamed"})
    got = world.ok("/conversations.get", {"id": made["id"]})["conversation"]
    assert got["tags"][0]["tag"]["name"] == tag["name"] + "-renamed"
    # A tag named by its DON is found by its display id, and the reverse.
    listed = world.ok("/conversations.list", {"tags": [tag["display_id"]]})["conversations"]
    assert made["id"] in [c["id"] for c in listed]
    listed = world.ok("/conversations.list", {"tags": [other["id"]]})["conversations"]
    assert made["id"] in [c["id"] for c in listed]
    updated = world.ok("/conversations.update", {
        "id": made["id"], "tags": {"remove": [{"id": tag["display_id"]}],
                                   "add": [{"id": tag["id"], "value": "silver"}]},
    })["conversation"]  # fmt: skip
    assert updated["tags"][-1] == {"tag": {**summary, "name": tag["name"] + "-renamed"},
                                   "value": "silver"}  # fmt: skip

    # Deleting a tag takes it off every conversation; the rest stay.
    world.ok("/tags.delete", {"id": other["id"]})
    after = world.ok("/conversations.get", {"id": made["id"]})["conversation"]
    assert [t["tag"]["id"] for t in after["tags"]] == ["legacy-text", "TAG-999999", tag["id"]]
    listed = world.ok("/conversations.list", {"tags": [other["id"]]})["conversations"]
    assert made["id"] not in [c["id"] for c in listed]


def test_a_value_must_be_one_the_tag_allows(world: World) -> None:
    visitor = user_id_of(identified_token(world.server, unique("valued")))
    tier = world.create(unique("tier"), allowed_values=["gold", "silver"])
    bare = world.create(unique("plain"))
    made = world.ok("/conversations.create", {
        "members": [visitor], "tags": [{"id": tier["id"], "value": "gold"}, {"id": bare["id"]},
                                       {"id": "free-text", "value": "anything"}],
    }, 201)["conversation"]  # fmt: skip
    assert [t.get("value") for t in made["tags"]] == ["gold", None, "anything"]

    def refused(path: str, body: Json, field: str, allowed: list[str] | None) -> None:
        with world.agent() as c:
            r = c.post(path, json=body)
        assert_error(r, 400, "value_not_permitted", field)
        assert r.json().get("allowed_values") == allowed

    for tags, allowed in (([{"id": tier["display_id"], "value": "bronze"}], ["gold", "silver"]),
                          ([{"id": bare["id"], "value": "x"}], None),
                          ([{"id": "TAG-999999", "value": "x"}], None)):  # fmt: skip
        refused("/conversations.create", {"members": [visitor], "tags": [{"id": "ok"}, *tags]},
                "tags[1].value", allowed)  # fmt: skip
    refused("/conversations.update",
            {"id": made["id"], "tags": {"add": [{"id": tier["id"], "value": "bronze"}]}},
            "tags.add[0].value", ["gold", "silver"])  # fmt: skip
    twice = [{"id": bare["id"]}, {"id": bare["id"], "value": "x"}]
    refused("/conversations.update", {"id": made["id"], "tags": {"set": twice}},
            "tags.set[1].value", None)  # fmt: skip
    # Nothing of a refused request is written.
    got = world.ok("/conversations.get", {"id": made["id"]})["conversation"]
    assert got["tags"] == made["tags"]

    # Narrowing a tag's allowed values keeps the values conversations
    # already carry; they are refused only when given again.
    world.ok("/tags.update", {"id": tier["id"], "allowed_values": {"set": ["silver"]}})
    got = world.ok("/conversations.get", {"id": made["id"]})["conversation"]
    assert got["tags"][0]["value"] == "gold"
    refused("/conversations.update",
            {"id": made["id"], "tags": {"add": [{"id": tier["id"], "value": "gold"}]}},
            "tags.add[0].value", ["silver"])  # fmt: skip
    moved = world.ok("/conversations.update", {
        "id": made["id"], "tags": {"add": [{"id": tier["id"], "value": "silver"}]},
    })["conversation"]  # fmt: skip
    assert moved["tags"][0]["value"] == "silver"
