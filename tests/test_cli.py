"""The ``openplug`` command as an operator uses it: a real process, a real
data directory, and a real server reading what the CLI provisioned."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.leaks.registry import after_cli, before_cli
from tests.live_server import LiveServer, make_settings

OPENPLUG = [sys.executable, "-c", "from openplug.cli import main; main()"]


def run(
    data_dir: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``openplug *args`` on ``data_dir``; ``env`` adds settings (e.g.
    ``OPENPLUG_REDIS_URL``)."""
    environment = {**os.environ, "OPENPLUG_DATA_DIR": str(data_dir)}
    for name in ("OPENPLUG_DATABASE_URL", "OPENPLUG_REDIS_URL"):
        environment.pop(name, None)
    environment.update(env or {})
    mark = before_cli(args, input)
    done = subprocess.run(
        [*OPENPLUG, *args], env=environment, capture_output=True, text=True, timeout=120,
        check=False, input=input,
    )  # fmt: skip
    after_cli(mark, args, done)
    return done


def test_init_prints_credentials_once_and_is_idempotent(tmp_path: Path) -> None:
    first = run(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    assert "opl_pat_" in first.stderr and "opl_aat_" in first.stderr
    again = run(tmp_path, "init", "--json")
    assert again.returncode == 0, again.stderr
    assert "opl_pat_" not in again.stderr + again.stdout
    assert json.loads(again.stdout)["org_id"]
    assert (tmp_path / "secrets.json").stat().st_mode & 0o077 == 0


def test_provisioning_with_json_then_using_the_aat(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    app = json.loads(
        run(tmp_path, "apps", "create", "--name", "Shop", "--origin", "https://shop.example",
            "--origin", "https://www.shop.example/", "--json").stdout
    )  # fmt: skip
    assert app["allowed_origins"] == ["https://shop.example", "https://www.shop.example"]
    listed = json.loads(run(tmp_path, "apps", "list", "--json").stdout)["apps"]
    assert app["app_id"] in [a["app_id"] for a in listed]

    created = run(tmp_path, "tokens", "create", "--app", app["app_id"], "--json")
    assert created.returncode == 0, created.stderr
    aat = json.loads(created.stdout)
    assert aat["token"].startswith("opl_aat_") and aat["client_id"] == app["app_id"]
    listed_tokens = run(tmp_path, "tokens", "list", "--json").stdout
    assert aat["token"] not in listed_tokens
    assert aat["token_id"] in listed_tokens

    server = LiveServer(make_settings(tmp_path, None)).start()
    try:
        with server.client(aat["token"]) as c:
            r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "cli-user"}})
            assert r.status_code == 201, r.text
            revoked = run(tmp_path, "tokens", "revoke", aat["token_id"], "--json")
            assert json.loads(revoked.stdout)["status"] == "revoked"
            r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "cli-user"}})
            assert r.status_code == 401 and "revoked" in r.json()["message"]
    finally:
        server.stop()


def test_agents_and_pats(tmp_path: Path) -> None:
    agent = json.loads(
        run(tmp_path, "agents", "create", "--email", "Sam@Support.example", "--json").stdout
    )
    assert agent["role"] == "agent"
    duplicate = run(tmp_path, "agents", "create", "--email", agent["email"])
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    pat = json.loads(run(tmp_path, "pat", "create", "--email", agent["email"], "--json").stdout)
    assert pat["token"].startswith("opl_pat_")
    emails = [
        a["email"] for a in json.loads(run(tmp_path, "agents", "list", "--json").stdout)["agents"]
    ]
    assert agent["email"] in emails


def test_bad_origin_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    r = run(tmp_path, "apps", "create", "--name", "X", "--origin", "shop.example/path")
    assert r.returncode == 2
    assert "origin" in r.stderr


def test_agents_create_for_an_existing_email_in_another_case_is_an_error(tmp_path: Path) -> None:
    """Finding: ``agents create --email Admin@example.com`` reset the
    bootstrap admin's password, printed it, and left two rows."""
    first = json.loads(run(tmp_path, "init", "--json").stdout)
    assert first["org_id"]
    for email in ("Admin@example.com", "ADMIN@EXAMPLE.COM", " admin@example.com"):
        r = run(tmp_path, "agents", "create", "--email", email, "--role", "admin", "--json")
        assert r.returncode == 2, r.stdout
        assert "already exists" in r.stderr
        assert "password" not in r.stdout
    agents = json.loads(run(tmp_path, "agents", "list", "--json").stdout)["agents"]
    assert [a["email"] for a in agents] == ["admin@example.com"]


async def test_the_database_refuses_a_second_agent_differing_only_in_case(tmp_path: Path) -> None:
    assert run(tmp_path, "init").returncode == 0
    server = LiveServer(make_settings(tmp_path, None)).start()
    try:
        import sqlalchemy.exc

        try:
            await server.sql(
                "INSERT INTO dev_users (email, display_name, role, created_at)"
                " VALUES ('Admin@Example.com', 'Twin', 'agent', CURRENT_TIMESTAMP)"
            )
        except sqlalchemy.exc.IntegrityError:
            pass
        else:
            raise AssertionError("a second agent with the admin's email was stored")
    finally:
        server.stop()
