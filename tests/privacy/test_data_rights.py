"""Data rights: ``rev-users.delete`` erases a person, and
``rev-users.personal-data.export`` hands an admin everything about them."""

from __future__ import annotations

import asyncio
import json

from openplug import idempotency
from openplug.privacy.erasure import REDACTED
from tests.conversations.helpers import (
    agent_ok,
    agent_reply,
    anonymous_session,
    assert_error,
    identified_token,
    start_conversation,
    user_id_of,
    widget,
    widget_ok,
)
from tests.identity.test_roles import agent_pat  # noqa: F401  (fixture)
from tests.live_server import LiveServer


def _person_with_history(server: LiveServer) -> dict[str, str]:
    """Ann wrote anonymously, logged in (merged), has a conversation of her
    own with a reply, and one shared with Bob."""
    anonymous = anonymous_session(server)
    before_login = start_conversation(server, anonymous["session_token"], "anonymous: my card")
    with server.client(server.aat) as c:
        r = c.post(
            "/auth-tokens.create",
            json={"rev_info": {
                "user_ref": "ann", "account_ref": "acme.example", "workspace_ref": "acme-eu",
                "user_traits": {"email": "ann@acme.example", "display_name": "Ann Example"},
            }},
        )  # fmt: skip
    assert r.status_code == 201, r.text
    ann = r.json()["access_token"]
    widget_ok(server, ann, "merge", anonymous_credential=anonymous["anonymous_credential"])
    own = start_conversation(server, ann, "my address is 1 Main St")
    agent_reply(server, own["id"], "thanks Ann")
    bob = identified_token(server, "bob")
    shared = agent_ok(
        server,
        "/conversations.create",
        {"type": "support", "title": "Team", "members": [user_id_of(ann), user_id_of(bob)],
         "messages": [{"body": "hello both"}]},
    )["conversation"]  # fmt: skip
    widget_ok(server, ann, "messages.create", conversation=shared["id"], body="ann's secret plan")
    widget_ok(server, bob, "messages.create", conversation=shared["id"], body="bob's reply")
    widget_ok(server, ann, "events.track", event_name="checked_out", properties={"total": 12})
    widget_ok(server, ann, "visit-properties.add", properties={"plan": "pro"})
    return {
        "ann": ann, "bob": bob, "ann_id": user_id_of(ann),
        "anonymous_id": anonymous["user"]["id"], "anonymous_token": anonymous["session_token"],
        "before_login": before_login["id"], "own": own["id"], "shared": shared["id"],
    }  # fmt: skip


def test_delete_erases_the_person_and_what_they_wrote(any_server: LiveServer) -> None:
    server = any_server
    h = _person_with_history(server)
    # Agents' retry-safe writes: the stored answer of one names her.
    with server.client(server.pat) as c:
        for key, member in (("ann-callback", h["ann_id"]), ("bob-callback", user_id_of(h["bob"]))):
            r = c.post(
                "/conversations.create",
                json={"type": "support", "title": "Callback", "members": [member]},
                headers={idempotency.HEADER: key},
            )
            assert r.status_code == 201, r.text
    agent_ok(server, "/rev-users.delete", {"id": h["ann_id"]})

    with server.client(server.pat) as c:
        for user in (h["ann_id"], h["anonymous_id"]):
            assert_error(c.post("/rev-users.get", json={"id": user}), 404, "not_found")
        # Her conversations with nobody else are gone, agents' replies too.
        for conversation in (h["own"], h["before_login"]):
            assert_error(c.post("/conversations.get", json={"id": conversation}), 404, "not_found")
        entries = c.post("/timeline-entries.list", json={"object": h["shared"]}).json()
    # The shared one stays for Bob, gapless, with her words removed.
    by_seq = {e["seq"]: e for e in entries["timeline_entries"]}
    assert sorted(by_seq) == [1, 2, 3]
    assert by_seq[2]["body"] == REDACTED and "created_by" not in by_seq[2]
    assert [by_seq[1]["body"], by_seq[3]["body"]] == ["hello both", "bob's reply"]
    dump = json.dumps(entries)
    assert "secret plan" not in dump and "Ann Example" not in dump
    listed = widget_ok(server, h["bob"], "conversations.list")["conversations"]
    assert h["shared"] in [c["id"] for c in listed] and len(listed) == 2
    # Her tokens, and her anonymous past's, end with her.
    for token in (h["ann"], h["anonymous_token"]):
        assert_error(widget(server, token, "conversations.list"), 401, "unauthenticated")
    # The company's records are not hers: the account and workspace stay.
    accounts = agent_ok(server, "/accounts.list", {"external_refs": ["acme.example"]})["accounts"]
    assert len(accounts) == 1
    # What the site told about her visits goes with her.
    for table in ("visitor_events", "visitor_sessions"):
        assert asyncio.run(server.sql(f"SELECT count(*) AS n FROM {table}"))[0].n == 0
    # So do the stored answers of writes that named her, agents' included.
    stored = asyncio.run(server.sql("SELECT response FROM idempotency_keys"))
    assert len(stored) == 1 and h["ann_id"] not in str(stored[0].response)


def test_export_is_everything_about_the_person_and_no_secret(server: LiveServer) -> None:
    h = _person_with_history(server)
    with server.client(server.pat) as c:
        r = c.post("/rev-users.personal-data.export", json={"id": h["ann_id"]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert "attachment" in r.headers["content-disposition"]
    data = r.json()
    assert data["format"] == "openplug.personal-data/1"
    assert data["rev_user"]["email"] == "ann@acme.example"
    assert data["rev_org"]["external_ref"] == "acme-eu"
    assert data["account"]["external_refs"] == ["acme.example"]
    assert [i["display_id"] for i in data["anonymous_identities"]] == [
        "REVU-" + h["anonymous_id"].rsplit("/", 1)[-1]
    ]
    bodies = {c["id"]: [m["body"] for m in c["messages"]] for c in data["conversations"]}
    assert bodies == {
        h["before_login"]: ["anonymous: my card"],
        h["own"]: ["my address is 1 Main St", "thanks Ann"],
        h["shared"]: ["hello both", "ann's secret plan", "bob's reply"],
    }
    assert data["files"] == []
    (visit,) = data["visits"]
    assert visit["rev_user"] == "REVU-" + h["ann_id"].rsplit("/", 1)[-1]
    assert [e["name"] for e in visit["events"]] == ["checked_out"]
    assert visit["session_properties"] == {"plan": "pro"}
    for secret in (h["ann"], h["anonymous_token"], "opl_", "digest"):
        assert secret not in r.text


def test_export_is_for_admins_only(server: LiveServer, agent_pat: str) -> None:  # noqa: F811
    ann = identified_token(server, "ann")
    with server.client(agent_pat) as c:
        r = c.post("/rev-users.personal-data.export", json={"id": user_id_of(ann)})
    assert_error(r, 403, "forbidden")
    with server.client(server.aat) as c:
        r = c.post("/rev-users.personal-data.export", json={"id": user_id_of(ann)})
    assert_error(r, 403, "forbidden")
    with server.client(server.pat) as c:
        assert_error(
            c.post("/rev-users.personal-data.export", json={"id": "REVU-999999"}), 404, "not_found"
        )
        assert_error(
            c.post("/rev-users.personal-data.export", json={"id": "ACC-1"}), 400, "invalid_id"
        )
