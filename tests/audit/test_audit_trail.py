"""The audit trail: every change to who may do what is recorded, with who,
when, what and from where, in the same transaction as the change."""

from __future__ import annotations

import json
from typing import Any

from tests.conversations.helpers import (
    agent_ok,
    anonymous_session,
    assert_error,
    identified_token,
    second_app,
    user_id_of,
    widget_ok,
)
from tests.identity.test_roles import agent_pat  # noqa: F401  (fixture)
from tests.inbox.test_sign_in import INBOX, signed_in
from tests.live_server import LiveServer
from tests.test_cli import run

AAT_TYPE = "urn:devrev:params:oauth:token-type:aat"


def events(server: LiveServer, **params: Any) -> list[dict[str, Any]]:
    with server.client(server.pat) as c:
        r = c.get("/audit-log.list", params={"limit": 100, **params})
    assert r.status_code == 200, r.text
    return list(r.json()["events"])


def actions(server: LiveServer) -> list[str]:
    return [e["action"] for e in reversed(events(server))]


def test_the_first_start_is_recorded_as_the_servers(server: LiveServer) -> None:
    first = list(reversed(events(server)))
    assert [e["action"] for e in first] == [
        "agent.created", "pat.created", "app.created", "aat.created",
    ]  # fmt: skip
    assert {e["actor"]["type"] for e in first} == {"system"}
    assert first[0]["details"] == {
        "email": "admin@example.com", "role": "admin", "password_set": True,
    }  # fmt: skip


def test_token_and_app_changes_name_the_agent_and_their_address(server: LiveServer) -> None:
    created = agent_ok(
        server, "/auth-tokens.create",
        {"requested_token_type": AAT_TYPE, "aud": [server.app_id], "token_hint": "shop"},
    )  # fmt: skip
    token_id = created["token_id"]
    agent_ok(server, "/auth-tokens.update", {"token_id": token_id, "token_hint": "shop v2"})
    agent_ok(server, "/auth-tokens.delete", {"token_id": token_id})
    agent_ok(server, "/apps.update",
             {"app_id": server.app_id, "allowed_origins": ["https://shop.example"]})  # fmt: skip
    latest = events(server)[:4]
    assert [e["action"] for e in latest] == [
        "app.updated", "aat.revoked", "aat.renamed", "aat.created",
    ]  # fmt: skip
    for e in latest:
        assert e["actor"] == {
            "type": "dev_user", "via": "pat", "display_id": "DEVU-1",
            "email": "admin@example.com", "display_name": "Admin",
        }  # fmt: skip
        assert e["address"] == "127.0.0.1"
        assert e["created_date"].endswith("Z")
    assert latest[3]["details"]["token_hint"] == "shop"
    assert latest[3]["details"]["app_id"] == server.app_id
    assert latest[0]["target"] == server.app_id
    assert latest[0]["details"]["allowed_origins"]["to"] == ["https://shop.example"]
    # Never a secret, only what identifies it.
    assert created["access_token"] not in json.dumps(events(server))


def test_a_refused_change_records_nothing(server: LiveServer) -> None:
    before = actions(server)
    with server.client(server.pat) as c:
        r = c.post("/apps.update", json={"app_id": server.app_id, "allowed_origins": ["bad"]})
    assert r.status_code == 400, r.text
    created = run(server.settings.data_dir, "agents", "create", "--email", "ADMIN@example.com")
    assert created.returncode == 2
    assert actions(server) == before


def test_visitors_sessions_merges_and_erasure(server: LiveServer) -> None:
    anonymous = anonymous_session(server)
    ann = identified_token(server, "ann")
    widget_ok(server, ann, "merge", anonymous_credential=anonymous["anonymous_credential"])
    agent_ok(server, "/rev-users.revoke-sessions", {"id": user_id_of(ann)})
    with server.client(server.pat) as c:
        exported = c.post("/rev-users.personal-data.export", json={"id": user_id_of(ann)})
    assert exported.status_code == 200
    agent_ok(server, "/rev-users.delete", {"id": user_id_of(ann)})
    merged, revoked, export, erased = reversed(events(server)[:4])
    ann_display = "REVU-" + user_id_of(ann).rsplit("/", 1)[-1]
    anon_display = "REVU-" + anonymous["user"]["id"].rsplit("/", 1)[-1]
    assert merged["action"] == "visitor.merged"
    assert merged["actor"] == {"type": "rev_user", "via": "session", "display_id": ann_display}
    assert merged["target"] == anon_display
    assert merged["details"] == {"into": ann_display, "conversations_moved": 0}
    assert (revoked["action"], revoked["target"]) == ("rev_user.sessions_revoked", ann_display)
    assert (export["action"], export["target"]) == ("rev_user.personal_data_exported", ann_display)
    assert erased["action"] == "rev_user.erased"
    assert erased["details"]["anonymous_identities"] == [anon_display]


def test_the_cli_and_sign_ins_are_recorded(server: LiveServer) -> None:
    data_dir = server.settings.data_dir
    assert run(data_dir, "agents", "create", "--email", "sam@example.com").returncode == 0
    assert run(data_dir, "agents", "set-password", "sam@example.com", "--generate").returncode == 0
    second_app(server)  # (the app is made with SQL; its AAT through the API)
    with signed_in(server) as inbox:
        assert inbox.post("/inbox/sign-out", headers=INBOX).status_code == 200
    latest = list(reversed(events(server)[:5]))
    assert [e["action"] for e in latest] == [
        "agent.created", "agent.password_changed", "aat.created",
        "agent.signed_in", "agent.signed_out",
    ]  # fmt: skip
    created, password, _, signed_in_event, signed_out = latest
    for e in (created, password):
        assert (e["actor"]["type"], e["actor"]["via"]) == ("operator", "cli")
        assert "@" in e["address"]  # user@host of whoever ran the command
        assert e["target"] == created["target"]
    assert signed_in_event["actor"]["via"] == "password"
    assert signed_in_event["address"] == "127.0.0.1"
    assert signed_out["actor"]["via"] == "web"


def test_only_admins_read_it_and_it_pages(server: LiveServer, agent_pat: str) -> None:  # noqa: F811
    with server.client(agent_pat) as c:
        assert_error(c.get("/audit-log.list"), 403, "forbidden")
    with server.client(server.aat) as c:
        assert_error(c.get("/audit-log.list"), 403, "forbidden")
    every = events(server)
    with server.client(server.pat) as c:
        first = c.post("/audit-log.list", json={"limit": 2}).json()
        second = c.post("/audit-log.list", json={"limit": 2, "cursor": first["next_cursor"]})
        only = c.get("/audit-log.list", params={"action": "pat.created"}).json()["events"]
    assert [e["id"] for e in first["events"] + second.json()["events"]] == [
        e["id"] for e in every[:4]
    ]
    assert {e["action"] for e in only} == {"pat.created"}
    assert len(only) == 2  # the bootstrap PAT and the agent's
