"""The ``openplug`` command as an operator uses it: a real process, a real
data directory, and a real server reading what the CLI provisioned."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from openplug.cli import cli
from tests.backends import postgres_database
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
    assert run(tmp_path, "init").returncode == 0
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
    assert run(tmp_path, "init").returncode == 0
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
        (error,) = json.loads(r.stdout).values()  # the error alone, no "password"
        assert "already exists" in error["message"]
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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_nul_characters_in_arguments_are_refused_naming_them(tmp_path: Path, backend: str) -> None:
    """A shell cannot pass a NUL in an argument, but a program calling the
    command can; PostgreSQL text cannot hold one (it failed there with a
    traceback, and was stored on SQLite). In process, then, as such a
    program would run it."""
    with contextlib.ExitStack() as stack:
        env = {"OPENPLUG_DATA_DIR": str(tmp_path), "OPENPLUG_DATABASE_URL": ""}
        if backend == "postgresql":
            env["OPENPLUG_DATABASE_URL"] = stack.enter_context(postgres_database())
        runner = CliRunner()
        first = runner.invoke(cli, ["init", "--json"], env=env)
        assert first.exit_code == 0, first.output
        app_id = json.loads(runner.invoke(cli, ["apps", "list", "--json"], env=env).stdout)["apps"][
            0
        ]["app_id"]
        cases = [
            (["apps", "create", "--name", "Sh\x00op", "--origin", "https://a.example"], "--name"),
            (["apps", "create", "--name=Sh\x00op", "--origin", "https://shop.example"], "--name"),
            (["apps", "create", "--name", "Shop", "--origin", "https://sh\x00op.example"],
             "--origin"),
            (["apps", "update", app_id, "--name", "N\x00"], "--name"),
            (["apps", "update", "app_\x00", "--json"], "APP_ID"),
            (["tokens", "create", "--app", app_id, "--hint", "shop\x00backend"], "--hint"),
            (["pat", "create", "--hint", "h\x00"], "--hint"),
            (["agents", "create", "--email", "sam\x00@shop.example"], "--email"),
            (["agents", "create", "--email", "sam@shop.example", "--name", "S\x00m"], "--name"),
            (["agents", "set-password", "--generate", "admin\x00@example.com"], "EMAIL"),
            (["tokens", "revoke", "abc\x00"], "TOKEN_ID"),
        ]  # fmt: skip
        for args, name in cases:
            r = runner.invoke(cli, args, env=env)
            assert r.exit_code == 2, (args, r.exit_code, r.output)
            assert f"{name}: must not contain NUL characters" in r.output, (args, r.output)
        listed = runner.invoke(cli, ["apps", "list", "--json"], env=env).stdout
        assert [a["name"] for a in json.loads(listed)["apps"]] == ["Demo"]
        agents = runner.invoke(cli, ["agents", "list", "--json"], env=env).stdout
        assert len(json.loads(agents)["agents"]) == 1
        tokens = runner.invoke(cli, ["tokens", "list", "--json"], env=env).stdout
        assert all("\x00" not in t["token_hint"] for t in json.loads(tokens)["tokens"])


def test_arguments_that_are_not_utf8_are_refused_naming_them(tmp_path: Path) -> None:
    """A shell passes any bytes (``$'\\xff'``); Python reads them as unpaired
    surrogates, which no database can store (it was a traceback)."""
    assert run(tmp_path, "init").returncode == 0
    not_utf8 = os.fsdecode(b"Sh\xffop")
    r = run(tmp_path, "apps", "create", "--name", not_utf8, "--origin", "https://a.example")
    assert r.returncode == 2, r.stderr
    message = " ".join(r.stderr.replace("│", " ").split())
    assert "--name: must be UTF-8 text" in message, r.stderr
    apps = json.loads(run(tmp_path, "apps", "list", "--json").stdout)["apps"]
    assert [a["name"] for a in apps] == ["Demo"]


# --- which instance: never a second one by accident ------------------------------------


def test_a_command_in_a_folder_without_an_instance_says_where_it_looked_and_creates_nothing(
    tmp_path: Path,
) -> None:
    """Finding: ``openplug tokens list`` run from another folder made a new
    ``./.openplug``, printed fresh admin credentials and listed its tokens."""
    elsewhere = tmp_path / "not-an-instance"
    for args in (["tokens", "list"], ["apps", "list"], ["agents", "create", "--email", "a@b.c"],
                 ["keys", "rotate"]):  # fmt: skip
        r = run(elsewhere, *args)
        assert r.returncode == 2, (args, r.stdout)
        assert f"no openplug instance in {elsewhere}" in r.stderr, r.stderr
        assert "opl_" not in r.stdout + r.stderr
        r = run(elsewhere, *args, "--json")
        assert r.returncode == 2
        error = json.loads(r.stdout)["error"]
        assert error["type"] == "not_found" and str(elsewhere) in error["message"]
    assert not elsewhere.exists()


def test_data_dir_option_and_variable_pick_the_instance(tmp_path: Path) -> None:
    made = json.loads(run(tmp_path / "a", "init", "--json").stdout)
    env = {k: v for k, v in os.environ.items() if k != "OPENPLUG_DATA_DIR"}
    done = subprocess.run(
        [*OPENPLUG, "--data-dir", str(tmp_path / "a"), "apps", "list", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["apps"][0]["app_id"] == made["demo_app"]["app_id"]
    assert not (tmp_path / ".openplug").exists()


def test_a_data_dir_whose_server_runs_on_postgresql_is_not_taken_for_a_new_sqlite_one(
    tmp_path: Path,
) -> None:
    with postgres_database() as url:
        assert run(tmp_path, "init", env={"OPENPLUG_DATABASE_URL": url}).returncode == 0
        r = run(tmp_path, "tokens", "list")  # the operator forgot the database URL
        assert r.returncode == 2
        assert "OPENPLUG_DATABASE_URL" in r.stderr and "openplug.db does not exist" in r.stderr
        assert not (tmp_path / "openplug.db").exists()
        listed = run(tmp_path, "tokens", "list", "--json", env={"OPENPLUG_DATABASE_URL": url})
        assert [t["token_hint"] for t in json.loads(listed.stdout)["tokens"]] == [
            "demo website backend"
        ]
    with postgres_database() as empty:  # the right folder, another (empty) database
        r = run(tmp_path, "apps", "list", env={"OPENPLUG_DATABASE_URL": empty})
        assert r.returncode == 2 and "has no openplug organisation" in r.stderr
        assert "postgres@" in r.stderr or "127.0.0.1" in r.stderr


def test_init_json_gives_a_script_every_credential_once_and_they_work(tmp_path: Path) -> None:
    r = run(tmp_path, "init", "--json")
    assert r.returncode == 0 and r.stderr == ""  # nothing as prose beside the JSON
    made = json.loads(r.stdout)
    assert made["created"] is True
    admin, app = made["admin"], made["demo_app"]
    server = LiveServer(make_settings(tmp_path, None)).start()
    try:
        with server.client(app["aat"]) as c:
            assert (
                c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "u1"}}).status_code
                == 201
            )
        with server.client(admin["pat"]) as c:
            assert c.get("/apps.list").json()["apps"][0]["app_id"] == app["app_id"]
        with server.client() as c:
            signed_in = c.post(
                "/inbox/sign-in", json={"email": admin["email"], "password": admin["password"]}
            )
            assert signed_in.status_code == 200, signed_in.text
    finally:
        server.stop()
    again = json.loads(run(tmp_path, "init", "--json").stdout)
    assert again == {"data_dir": made["data_dir"], "org_id": made["org_id"], "created": False}


def test_an_aat_for_no_app_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    """Finding: ``tokens create --app ""`` made an AAT bound to no app, and
    using it was a 500 (an ``assert`` in the service)."""
    assert run(tmp_path, "init").returncode == 0
    for app in ("", "  "):
        r = run(tmp_path, "tokens", "create", "--app", app, "--json")
        assert r.returncode == 2
        assert json.loads(r.stdout)["error"]["field_name"] == "--app"
    r = run(tmp_path, "tokens", "create", "--app", "app_nosuch")
    assert r.returncode == 2 and "app_nosuch" in r.stderr
    tokens = json.loads(run(tmp_path, "tokens", "list", "--json").stdout)["tokens"]
    assert [t["token_hint"] for t in tokens] == ["demo website backend"]


def test_every_printed_id_form_of_a_token_revokes_it(tmp_path: Path) -> None:
    """Finding: ``tokens revoke TOKEN-7`` (the display_id --json prints)
    said ``not a token id``."""
    made = json.loads(run(tmp_path, "init", "--json").stdout)
    app_id = made["demo_app"]["app_id"]
    for form in ("display_id", "id", "key"):
        token = json.loads(run(tmp_path, "tokens", "create", "--app", app_id, "--json").stdout)
        given = token["id"].rsplit("/", 1)[-1] if form == "key" else token[form]
        r = run(tmp_path, "tokens", "revoke", given.lower() if form == "display_id" else given,
                "--json")  # fmt: skip
        assert r.returncode == 0, r.stdout
        assert json.loads(r.stdout)["status"] == "revoked"
    r = run(tmp_path, "tokens", "revoke", "TOKEN-999", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["type"] == "not_found"
    r = run(tmp_path, "tokens", "revoke", "TOKEN-x", "--json")
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["field_name"] == "token_id"
    # The API takes the same forms.
    server = LiveServer(make_settings(tmp_path, None)).start()
    try:
        token = json.loads(run(tmp_path, "tokens", "create", "--app", app_id, "--json").stdout)
        with server.client(made["admin"]["pat"]) as c:
            got = c.get("/auth-tokens.get", params={"token_id": token["display_id"]})
            assert got.status_code == 200 and got.json()["token"]["id"] == token["id"]
            assert (
                c.post("/auth-tokens.delete", json={"token_id": token["display_id"]}).status_code
                == 200
            )
    finally:
        server.stop()


def test_version_and_help_describe_every_command(tmp_path: Path) -> None:
    r = run(tmp_path, "--version")
    assert r.returncode == 0 and r.stdout.startswith("openplug ")
    for group in ("apps", "agents", "tokens", "pat", "keys"):
        listing = run(tmp_path, group, "--help").stdout
        commands = listing.split("Commands:")[1].strip().splitlines()
        assert commands and all(len(line.split()) > 1 for line in commands), listing
    assert "``" not in run(tmp_path, "--help").stdout
    assert not (tmp_path / "secrets.json").exists()
