"""Agents answer visitors and read the settings; only admins change apps,
AATs and custom attribute schemas, whatever credential they use."""

from __future__ import annotations

import json

import pytest

from tests.live_server import LiveServer
from tests.test_cli import run

AAT_TYPE = "urn:devrev:params:oauth:token-type:aat"


@pytest.fixture
def agent_pat(server: LiveServer) -> str:
    data_dir = server.settings.data_dir
    created = run(data_dir, "agents", "create", "--email", "sam@example.com", "--json")
    assert created.returncode == 0, created.stderr
    pat = run(data_dir, "pat", "create", "--email", "sam@example.com", "--json")
    assert pat.returncode == 0, pat.stderr
    return str(json.loads(pat.stdout)["token"])


def test_an_agent_reads_settings_but_cannot_change_them(server: LiveServer, agent_pat: str) -> None:
    with server.client(server.pat) as admin:
        aats = admin.post("/auth-tokens.list", json={"requested_token_type": AAT_TYPE})
        aat_id = aats.json()["tokens"][0]["token_id"]
        before = admin.get("/apps.list").json()
    refused = [
        ("/apps.create", {"name": "Mine"}),
        ("/apps.update", {"app_id": server.app_id, "allowed_origins": ["https://evil.example"]}),
        ("/auth-tokens.create", {"requested_token_type": AAT_TYPE}),
        ("/auth-tokens.update", {"token_id": aat_id, "token_hint": "renamed"}),
        ("/auth-tokens.delete", {"token_id": aat_id}),
        ("/schemas.custom.set", {"type": "tenant_fragment", "leaf_type": "rev_user",
                                 "fields": [{"name": "plan", "field_type": "text"}]}),
    ]  # fmt: skip
    with server.client(agent_pat) as agent:
        for path, body in refused:
            r = agent.post(path, json=body)
            assert r.status_code == 403, (path, r.text)
            assert r.json()["type"] == "forbidden"
            assert "only an admin" in r.json()["message"]
        assert agent.get("/apps.list").json() == before
        assert (
            agent.post("/auth-tokens.list", json={"requested_token_type": AAT_TYPE}).json()[
                "tokens"
            ][0]["status"]
            == "active"
        )
        assert agent.get("/schemas.custom.list").status_code == 200
        assert agent.post("/conversations.list", json={}).status_code == 200
        # Their own PAT is theirs to revoke.
        assert agent.post("/auth-tokens.delete", json={}).status_code == 200
    with server.client(server.aat) as backend:
        r = backend.post("/auth-tokens.create", json={"rev_info": {"user_ref": "still-works"}})
        assert r.status_code == 201


def test_an_admin_changes_settings(server: LiveServer) -> None:
    with server.client(server.pat) as admin:
        r = admin.post("/auth-tokens.create", json={"requested_token_type": AAT_TYPE})
        assert r.status_code == 201, r.text
        r = admin.post("/auth-tokens.delete", json={"token_id": r.json()["token_id"]})
        assert r.status_code == 200, r.text
        assert admin.post("/apps.create", json={"name": "Shop"}).status_code == 201
