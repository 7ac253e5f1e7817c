"""The ``openplug`` command: run the server and provision apps, agents and
tokens. Every command that prints data takes ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
import uvicorn
from typer.core import TyperArgument, TyperGroup, TyperOption

from openplug.audit import OPERATOR
from openplug.availability import AvailabilityChange
from openplug.bootstrap import FirstStart, open_runtime
from openplug.db.base import rfc3339
from openplug.errors import ApiError
from openplug.identity import access_tokens as tokens
from openplug.identity.agent_sessions import change_password
from openplug.identity.apps import App, app_json, create_app, get_app, list_apps, update_app
from openplug.identity.dev_users import (
    DevUser,
    Role,
    create_dev_user,
    get_dev_user_by_email,
    list_dev_users,
)
from openplug.identity.passwords import generate_password
from openplug.identity.secrets_file import retire_signing_key, rotate_signing_key
from openplug.identity.token_service import parse_token_id, revoke_token, token_view
from openplug.realtime import make_broker
from openplug.runtime import Runtime
from openplug.settings import Settings
from openplug.web.text_guard import SURROGATE_REASON, unstorable_reason


class _Commands(TyperGroup):
    """The command tree, refusing text the database cannot store in any
    argument before a command runs, the same rule as the API's (see
    ``web.text_guard``): bytes that are not UTF-8, which a shell passes as
    they are and Python reads as unpaired surrogates (``$'\\xff'``: a
    traceback on either database), and NUL characters, which PostgreSQL
    text cannot hold (a shell cannot pass one, a program calling ``cli``
    can; SQLite stored it). An app name, a token hint, an agent's email."""

    # ``ctx: Any``: typer's base class takes its vendored click's Context,
    # which typer does not export.
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        for i, arg in enumerate(args):
            if (reason := unstorable_reason(arg)) is not None:
                if reason == SURROGATE_REASON:  # what it is on a command line
                    reason = "must be UTF-8 text"
                raise typer.BadParameter(reason, ctx, param_hint=self._name_of(ctx, args, i))
        return super().parse_args(ctx, args)

    def _name_of(self, ctx: Any, args: list[str], i: int) -> str:
        """The option (``--name``) or argument (``APP_ID``) ``args[i]`` is for."""
        if args[i].startswith("--") and "=" in args[i]:
            return repr(args[i].split("=", 1)[0])[1:-1]
        command: Any = self
        depth = 0
        while isinstance(command, TyperGroup) and depth < i:
            sub = command.get_command(ctx, args[depth])
            if sub is None:
                break
            command, depth = sub, depth + 1
        takes_value = {
            opt
            for p in command.params
            if isinstance(p, TyperOption) and not p.is_flag
            for opt in (*p.opts, *p.secondary_opts)
        }
        if i > depth and args[i - 1] in takes_value:
            return str(args[i - 1])
        arguments = [p for p in command.params if isinstance(p, TyperArgument)]
        if len(arguments) == 1:
            return str(arguments[0].name).upper()
        return f"the argument {args[i]!r}"


cli = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, cls=_Commands)
apps_cli = typer.Typer(no_args_is_help=True, help="Websites that embed the widget.")
agents_cli = typer.Typer(no_args_is_help=True, help="Support agents and admins.")
tokens_cli = typer.Typer(no_args_is_help=True, help="AATs for website backends.")
pat_cli = typer.Typer(no_args_is_help=True, help="Personal access tokens for agents.")
keys_cli = typer.Typer(no_args_is_help=True, help="The key ring that signs session tokens.")
for name, sub in (("apps", apps_cli), ("agents", agents_cli), ("tokens", tokens_cli),
                  ("pat", pat_cli), ("keys", keys_cli)):  # fmt: skip
    cli.add_typer(sub, name=name)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
T = TypeVar("T")


def _run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Open the runtime (initialising on first use), run, close.

    The runtime's broker is the servers' when ``OPENPLUG_REDIS_URL`` is set,
    so what a command ends (a revoked token, a changed password) is
    announced to every server's open sockets at once. Without Redis the
    broker reaches no server; each notices on its own within
    ``OPENPLUG_CREDENTIAL_RECHECK_SECONDS``."""

    async def main() -> T:
        runtime, first = await open_runtime(Settings())
        runtime.broker = make_broker(runtime.settings.redis_url)
        if first is not None:
            _announce(runtime, first)
        try:
            return await work(runtime)
        finally:
            await runtime.broker.aclose()
            await runtime.db.dispose()

    try:
        return asyncio.run(main())
    except ApiError as e:
        typer.echo(f"error: {e.message}", err=True)
        raise typer.Exit(2) from None


def _emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    typer.echo(json.dumps(data, indent=2) if as_json else text)


def _announce(runtime: Runtime, first: FirstStart) -> None:
    url = runtime.settings.resolved_public_url()
    typer.echo(
        f"""
openplug initialised in {runtime.settings.data_dir.resolve()}
These credentials are shown ONCE. Keep them somewhere safe.

  Admin agent      {first.admin_email}
  Admin password   {first.admin_password}
  Admin PAT        {first.pat}
  Demo app_id      {first.app.app_id}   (allowed origin {", ".join(first.app.allowed_origins)})
  Demo AAT         {first.aat}
  Demo page        {url}/demo
  Agent inbox      {url}/inbox   (sign in as the admin agent; settings are there too)

Try it:
  curl -s -X POST {url}/auth-tokens.create \\
    -H 'Authorization: {first.aat}' -H 'Content-Type: application/json' \\
    -d '{{"rev_info": {{"user_ref": "example@devrev.ai", "account_ref": "devrev.ai",
         "workspace_ref": "devrev-dev", "user_traits": {{"email": "test-user@devrev.ai",
         "display_name": "Devrev Test User"}}}}}}'
  curl -s {url}/rev-users.list -H 'Authorization: {first.pat}'
""",
        err=True,
    )


def _agent_json(user: DevUser) -> dict[str, Any]:
    return {
        "email": user.email,
        "display_name": user.display_name,
        "role": user.role,
        "created_date": rfc3339(user.created_at),
    }


@cli.command()
def init(as_json: JsonOpt = False) -> None:
    """Create the data directory, secrets, schema, demo app and admin (idempotent)."""

    async def work(runtime: Runtime) -> None:
        _emit(
            as_json,
            {"data_dir": str(runtime.settings.data_dir.resolve()), "org_id": runtime.org_id},
            f"openplug is initialised in {runtime.settings.data_dir.resolve()}",
        )

    _run(work)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind [OPENPLUG_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [OPENPLUG_PORT].")] = None,
) -> None:
    """Run the server (initialising on the first start)."""
    from openplug.app import create_app as create_asgi_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = Settings(**overrides)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )
    # Migration chatter is not news on every start; failures still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)

    def announce(runtime: Runtime, first: FirstStart) -> None:
        _announce(runtime, first)

    app = create_asgi_app(settings, on_first_start=announce, freeze_startup_objects=True)
    typer.echo(
        f"openplug serving on {settings.resolved_public_url()}  (API docs at /docs)", err=True
    )
    # ws_max_size: a socket frame is small JSON; refuse big ones before
    # buffering them (the session refuses over 16 KiB anyway).
    # ws_per_message_deflate off: every browser offers it, and its zlib state
    # costs ~42 KiB per open socket (bench/realtime.py) to shrink frames of a
    # few hundred bytes; idle widgets are most of a server's sockets.
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=settings.log_level,
                access_log=False, ws_max_size=64 * 1024,
                ws_per_message_deflate=False)  # fmt: skip


@apps_cli.command("create")
def apps_create(
    name: Annotated[str, typer.Option(help="A name agents recognise.")],
    origin: Annotated[list[str], typer.Option(help="Allowed origin; repeat for several.")],
    require_identification: Annotated[bool, typer.Option()] = False,
    as_json: JsonOpt = False,
) -> None:
    async def work(runtime: Runtime) -> App:
        async with runtime.db.write() as conn:
            return await create_app(conn, name, origin, require_identification, actor=OPERATOR)

    app = _run(work)
    _emit(as_json, app_json(app), f"created app {app.app_id}")


def _office_hours_option(values: list[str]) -> dict[str, list[dict[str, str]]]:
    """``monday=09:00-12:00,13:00-17:30`` per weekday, as ``apps.update``'s
    ``office_hours``; the times are checked there, like the API's."""
    hours: dict[str, list[dict[str, str]]] = {}
    for value in values:
        day, sep, spans = value.partition("=")
        if not sep:
            raise typer.BadParameter(
                f"{value!r}: write DAY=HH:MM-HH:MM[,HH:MM-HH:MM], e.g. monday=09:00-17:30",
                param_hint="--office-hours",
            )
        intervals = hours.setdefault(day.strip().lower(), [])
        for span in filter(None, (p.strip() for p in spans.split(","))):
            start, _, end = span.partition("-")
            intervals.append({"start": start.strip(), "end": end.strip()})
    return hours


@apps_cli.command("update")
def apps_update(
    app_id: str,
    origin: Annotated[list[str] | None, typer.Option(help="Replaces the allowed origins.")] = None,
    name: Annotated[str | None, typer.Option()] = None,
    require_identification: Annotated[bool | None, typer.Option()] = None,
    time_zone: Annotated[
        str | None, typer.Option(help="IANA time zone of the office hours, e.g. Europe/Berlin.")
    ] = None,
    office_hours: Annotated[
        list[str] | None,
        typer.Option(
            help="DAY=HH:MM-HH:MM[,...], e.g. monday=09:00-17:30; repeat per weekday. "
            "Replaces the weekly hours; days left out are closed."
        ),
    ] = None,
    always_open: Annotated[
        bool, typer.Option("--always-open", help="Remove the office hours.")
    ] = False,
    reply_time: Annotated[
        str | None, typer.Option(help='minutes, hour, hours or day; "" shows none.')
    ] = None,
    away_message: Annotated[
        str | None, typer.Option(help='Posted once per conversation when away; "" for none.')
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    hours = {} if always_open else _office_hours_option(office_hours) if office_hours else None
    availability = AvailabilityChange(
        time_zone=time_zone, office_hours=hours, reply_time=reply_time, away_message=away_message
    )

    async def work(runtime: Runtime) -> App:
        async with runtime.db.write() as conn:
            return await update_app(
                conn, app_id, name=name, origins=origin or None,
                require_identification=require_identification, availability=availability,
                actor=OPERATOR,
            )  # fmt: skip

    app = _run(work)
    _emit(as_json, app_json(app), f"updated app {app.app_id}: {', '.join(app.allowed_origins)}")


@apps_cli.command("list")
def apps_list(as_json: JsonOpt = False) -> None:
    async def work(runtime: Runtime) -> list[App]:
        async with runtime.db.read() as conn:
            return await list_apps(conn)

    found = _run(work)
    lines = [f"{a.app_id}  {a.name}  {' '.join(a.allowed_origins)}" for a in found]
    _emit(as_json, {"apps": [app_json(a) for a in found]}, "\n".join(lines))


@agents_cli.command("create")
def agents_create(
    email: Annotated[str, typer.Option()],
    name: Annotated[str | None, typer.Option()] = None,
    role: Annotated[str, typer.Option(help="admin or agent")] = "agent",
    as_json: JsonOpt = False,
) -> None:
    if role not in ("admin", "agent"):
        raise typer.BadParameter("role must be admin or agent", param_hint="--role")
    chosen: Role = "admin" if role == "admin" else "agent"

    password = generate_password()

    async def work(runtime: Runtime) -> DevUser:
        async with runtime.db.write() as conn:
            return await create_dev_user(
                conn, email, name, chosen, password=password, actor=OPERATOR
            )

    user = _run(work)
    _emit(
        as_json,
        {**_agent_json(user), "password": password},
        f"created {user.role} {user.email}\ninbox password (shown once): {password}",
    )


@agents_cli.command("set-password")
def agents_set_password(
    email: str,
    generate: Annotated[
        bool, typer.Option("--generate", help="Make up a strong password and print it once.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set an agent's inbox password (asked for twice unless --generate);
    the agent's inbox sign-ins end."""
    if generate:
        password = generate_password()
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)

    async def work(runtime: Runtime) -> DevUser:
        return await change_password(runtime, email, password, actor=OPERATOR)

    user = _run(work)
    shown = {"password": password} if generate else {}
    text = f"password set for {user.email}"
    if generate:
        text += f"\ninbox password (shown once): {password}"
    _emit(as_json, {**_agent_json(user), **shown}, text)


@agents_cli.command("list")
def agents_list(as_json: JsonOpt = False) -> None:
    async def work(runtime: Runtime) -> list[DevUser]:
        async with runtime.db.read() as conn:
            return await list_dev_users(conn)

    found = _run(work)
    lines = [f"{u.email}  {u.role}  {u.display_name}" for u in found]
    _emit(as_json, {"agents": [_agent_json(u) for u in found]}, "\n".join(lines))


def _issue(
    kind: tokens.TokenKind, email: str | None, app_id: str | None, days: int, hint: str | None
) -> dict[str, Any]:
    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.db.write() as conn:
            if email is None:
                owner = (await list_dev_users(conn))[0]
            else:
                owner = await get_dev_user_by_email(conn, email)
            app_pk = (await get_app(conn, app_id)).pk if app_id else None
            secret, token = await tokens.issue_access_token(
                conn, runtime.secrets.token_pepper, kind=kind, dev_user_id=owner.pk,
                app_pk=app_pk, expires_in_days=days, token_hint=hint, actor=OPERATOR,
            )  # fmt: skip
        view = token_view(runtime, token).model_dump()
        return {"token": secret, **view}

    return _run(work)


@tokens_cli.command("create")
def tokens_create(
    app: Annotated[str, typer.Option(help="The app_id the AAT is for.")],
    days: Annotated[int, typer.Option(min=1, max=tokens.AAT_MAX_DAYS)] = tokens.AAT_DEFAULT_DAYS,
    hint: Annotated[str | None, typer.Option(help="A label to recognise it by.")] = None,
    agent: Annotated[
        str | None, typer.Option(help="Creator's email (default: first admin).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an AAT; the secret is printed once and never again."""
    data = _issue("aat", agent, app, days, hint)
    _emit(as_json, data, f"{data['token']}\n(token_id {data['token_id']}; shown once)")


@tokens_cli.command("list")
def tokens_list(as_json: JsonOpt = False) -> None:
    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.db.read() as conn:
            found = await tokens.list_tokens(conn, kind="aat")
        return [token_view(runtime, t).model_dump() for t in found]

    found = _run(work)
    lines = [
        f"{t['token_id']}  {t['client_id']}  {t['status']}  {t['token_hint']}  "
        f"expires {t['expires_at']}  last used {t['last_used_at'] or 'never'}"
        for t in found
    ]
    _emit(as_json, {"tokens": found}, "\n".join(lines))


@tokens_cli.command("revoke")
def tokens_revoke(token_id: str, as_json: JsonOpt = False) -> None:
    """Revoke an AAT, PAT or inbox sign-in; sockets using it close."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        token = await revoke_token(runtime, parse_token_id(token_id), by=None, actor=OPERATOR)
        return token_view(runtime, token).model_dump()

    data = _run(work)
    _emit(as_json, data, f"revoked {data['token_id']}")


@pat_cli.command("create")
def pat_create(
    email: Annotated[
        str | None, typer.Option(help="The agent's email (default: first admin).")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=3650)] = tokens.PAT_DEFAULT_DAYS,
    hint: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a PAT for an agent; printed once."""
    data = _issue("pat", email, None, days, hint)
    _emit(as_json, data, f"{data['token']}\n(token_id {data['token_id']}; shown once)")


@keys_cli.command("rotate")
def keys_rotate(as_json: JsonOpt = False) -> None:
    """Sign new session tokens with a new key; tokens signed before stay valid."""
    key = rotate_signing_key(Settings().resolved_secrets_file())
    _emit(
        as_json,
        {"kid": key.kid},
        f"new signing key {key.kid}; servers load it on restart or first sight",
    )


@keys_cli.command("retire")
def keys_retire(kid: str, as_json: JsonOpt = False) -> None:
    """Forget an old key: session tokens it signed stop working."""
    retire_signing_key(Settings().resolved_secrets_file(), kid)
    _emit(as_json, {"retired": kid}, f"retired {kid}; restart servers to apply")


def main() -> None:
    cli()
