"""The ``openplug`` command: run the server and provision apps, agents and
tokens. Every command that prints data takes ``--json`` for scripts."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
import uvicorn
from typer.core import TyperArgument, TyperGroup, TyperOption

from openplug.audit import OPERATOR
from openplug.availability import AvailabilityChange
from openplug.bootstrap import FirstStart, NoInstance, open_runtime
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
from openplug.realtime import announcements_sent
from openplug.runtime import Runtime, broker_for
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

    def main(self, args: Sequence[str] | None = None, *pos: Any, **kw: Any) -> Any:
        """Under ``--json`` a refusal of the command line itself (a missing
        option, a bad value) is one JSON object too, for scripts."""
        argv = list(sys.argv[1:] if args is None else args)
        if "--json" not in argv or kw.get("standalone_mode") is False:
            return super().main(argv, *pos, **kw)
        try:
            code = super().main(argv, *pos, **{**kw, "standalone_mode": False})
            sys.exit(code if isinstance(code, int) else 0)
        except typer.Exit as e:
            sys.exit(e.exit_code)
        except typer.Abort:
            sys.exit(1)
        except typer.TyperException as e:  # click's ClickException, vendored by typer
            # The option as typed (--app) or the argument's name (APP_ID).
            param, hint = getattr(e, "param", None), getattr(e, "param_hint", None)
            opts = getattr(param, "opts", None) or []
            field = (
                (hint.strip("'\"") if isinstance(hint, str) else None)
                or (opts[0] if opts and opts[0].startswith("-") else None)
                or (str(param.name).upper() if param is not None else None)
            )
            error = {"type": "bad_request", "message": e.format_message()}
            _emit_error({**error, **({"field_name": field} if field else {})})
            sys.exit(getattr(e, "exit_code", 2))

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


cli = typer.Typer(
    no_args_is_help=True, add_completion=False, cls=_Commands, rich_markup_mode=None,
    help="Run the openplug server and provision its apps, agents and tokens. Every command "
    "acts on one instance: the data directory given by --data-dir or OPENPLUG_DATA_DIR "
    "(default ./.openplug), which only init and serve create. Commands that print data take "
    "--json for scripts.",
)  # fmt: skip
apps_cli = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Websites that embed the widget."
)
agents_cli = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Support agents and admins."
)
tokens_cli = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="AATs (application access tokens) for website backends.",
)
pat_cli = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Personal access tokens for agents."
)
keys_cli = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="The key ring that signs session tokens."
)
for name, sub in (("apps", apps_cli), ("agents", agents_cli), ("tokens", tokens_cli),
                  ("pat", pat_cli), ("keys", keys_cli)):  # fmt: skip
    cli.add_typer(sub, name=name)

JsonOpt = Annotated[
    bool, typer.Option("--json", help='Print one JSON object (errors too, as {"error": ...}).')
]
T = TypeVar("T")
_data_dir: Path | None = None  # --data-dir, read by the root callback


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"openplug {package_version('openplug')}")
        raise typer.Exit()


@cli.callback()
def _root(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            envvar="OPENPLUG_DATA_DIR",
            show_envvar=True,
            file_okay=False,
            help="The instance's data directory (secrets, SQLite database, files). "
            "[default: ./.openplug]",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print openplug's version and exit.",
        ),
    ] = False,
) -> None:
    global _data_dir
    _data_dir = data_dir


def _settings(**overrides: Any) -> Settings:
    if _data_dir is not None:
        overrides.setdefault("data_dir", _data_dir)
    return Settings(**overrides)


def _emit_error(error: dict[str, Any]) -> None:
    """``{"error": ...}`` with the API's error body, on stdout where
    ``--json`` output goes."""
    typer.echo(json.dumps({"error": error}, indent=2))


def _run(
    work: Callable[[Runtime], Awaitable[T]],
    *,
    as_json: bool = False,
    create: bool = False,
    on_first_start: Callable[[Runtime, FirstStart], None] | None = None,
) -> T:
    """Open the instance's runtime, run, close. Only ``init`` (``create``)
    makes a new instance: any other command run in the wrong folder, or
    without the database its server uses, says where it looked instead of
    quietly starting a second instance with credentials of its own.

    The runtime's broker is the servers' when ``OPENPLUG_REDIS_URL`` is set,
    so what a command ends (a revoked token, a changed password) is
    announced to every server's open sockets at once. Without Redis the
    broker reaches no server; each notices on its own within
    ``OPENPLUG_CREDENTIAL_RECHECK_SECONDS``."""

    async def main() -> T:
        runtime, first = await open_runtime(_settings(), create=create)
        runtime.broker = broker_for(runtime.settings)
        if first is not None:
            (on_first_start or _announce)(runtime, first)
        try:
            return await work(runtime)
        finally:
            await announcements_sent()
            await runtime.broker.aclose()
            await runtime.db.dispose()

    try:
        return asyncio.run(main())
    except NoInstance as e:
        _fail(as_json, {"type": "not_found", "message": str(e)})
    except ApiError as e:
        _fail(as_json, e.body())


def _fail(as_json: bool, error: dict[str, Any]) -> NoReturn:
    if as_json:
        _emit_error(error)
    else:
        typer.echo(f"error: {error['message']}", err=True)
    raise typer.Exit(2)


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
    """Create an instance, printing its credentials once (idempotent).

    In the data directory: the key ring, the schema, a demo app and an admin
    agent, whose password, PAT and the demo app's AAT are printed this once
    (with --json, all of them in the one object). On an existing instance it
    changes nothing and prints no credential."""
    first_start: list[FirstStart] = []

    async def work(runtime: Runtime) -> Runtime:
        return runtime

    def remember(runtime: Runtime, first: FirstStart) -> None:
        first_start.append(first)
        if not as_json:
            _announce(runtime, first)

    runtime = _run(work, as_json=as_json, create=True, on_first_start=remember)
    where = str(runtime.settings.data_dir.resolve())
    data: dict[str, Any] = {"data_dir": where, "org_id": runtime.org_id,
                            "created": bool(first_start)}  # fmt: skip
    if first_start:
        first = first_start[0]
        data |= {
            "public_url": runtime.settings.resolved_public_url(),
            "admin": {"email": first.admin_email, "password": first.admin_password,
                      "pat": first.pat},
            "demo_app": {**app_json(first.app), "aat": first.aat},
        }  # fmt: skip
    _emit(as_json, data, f"openplug is initialised in {where}")


@cli.command()
def serve(
    host: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Interface to bind [OPENPLUG_HOST; 127.0.0.1]."),
    ] = None,
    port: Annotated[
        int | None, typer.Option(metavar="PORT", help="Port [OPENPLUG_PORT; 8000].")
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="N",
            help="Server processes sharing the port; more than one needs OPENPLUG_REDIS_URL "
            "(PostgreSQL advised).",
        ),
    ] = 1,
) -> None:
    """Run the server (initialising on the first start)."""
    from openplug.app import create_app as create_asgi_app

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = _settings(**overrides)
    from openplug.logs import configure_logging

    configure_logging(settings.log_level)
    # Migration chatter is not news on every start; failures still show.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # ws_max_size: a socket frame is small JSON; refuse big ones before
    # buffering them (the session refuses over 16 KiB anyway).
    # ws_per_message_deflate off: every browser offers it, and its zlib state
    # costs ~42 KiB per open socket (bench/realtime.py) to shrink frames of a
    # few hundred bytes; idle widgets are most of a server's sockets.
    # On SIGTERM uvicorn stops accepting, closes open sockets with 1012
    # (service restart: the widget reconnects, to another process behind a
    # balancer, and resumes from its last seq), lets requests in flight
    # finish within the grace period, then runs the lifespan's shutdown.
    options: dict[str, Any] = {
        "host": settings.host, "port": settings.port, "log_level": settings.log_level,
        "access_log": False, "ws_max_size": 64 * 1024, "ws_per_message_deflate": False,
        "timeout_graceful_shutdown": settings.graceful_shutdown_seconds,
    }  # fmt: skip
    if workers > 1:
        _serve_workers(settings, overrides, workers, options)
        return

    def announce(runtime: Runtime, first: FirstStart) -> None:
        _announce(runtime, first)

    app = create_asgi_app(settings, on_first_start=announce, freeze_startup_objects=True)
    typer.echo(
        f"openplug serving on {settings.resolved_public_url()}  (API docs at /docs)", err=True
    )
    uvicorn.run(app, **options)


def _serve_workers(
    settings: Settings, overrides: dict[str, Any], workers: int, options: dict[str, Any]
) -> None:
    """``workers`` processes, each its own ``openplug.app:from_environment``
    (uvicorn's supervisor restarts one that dies). They share nothing but
    the database and Redis, like processes on several machines: realtime
    events and limits between them need Redis."""
    if not settings.redis_url:
        _fail(False, {
            "type": "bad_request", "field_name": "--workers",
            "message": "several workers need OPENPLUG_REDIS_URL: realtime events and limits "
                       "are shared between processes through Redis",
        })  # fmt: skip
    # The workers read their settings from the environment.
    env = {"host": settings.host, "port": str(settings.port), "data_dir": str(settings.data_dir)}
    for name, value in env.items():
        if name in overrides or name == "data_dir":
            os.environ[f"OPENPLUG_{name.upper()}"] = value
    # Initialised once, here, before the workers start: each would otherwise
    # race to create the instance and print credentials of its own.
    _run(_nothing, create=True)
    typer.echo(
        f"openplug serving on {settings.resolved_public_url()} with {workers} workers"
        "  (API docs at /docs)",
        err=True,
    )
    uvicorn.run("openplug.app:from_environment", factory=True, workers=workers, **options)


async def _nothing(runtime: Runtime) -> None:
    return None


_REQUIRE_ID_HELP = "Only visitors signed in by your backend (a session token); no anonymous chats."


@apps_cli.command("create")
def apps_create(
    name: Annotated[str, typer.Option(metavar="NAME", help="A name agents recognise.")],
    origin: Annotated[
        list[str],
        typer.Option(
            metavar="ORIGIN",
            help="Where the widget may run, e.g. https://shop.example.com; repeat for several.",
        ),
    ],
    require_identification: Annotated[bool, typer.Option(help=_REQUIRE_ID_HELP)] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a website (an app) that embeds the widget; prints its app_id."""

    async def work(runtime: Runtime) -> App:
        async with runtime.db.write() as conn:
            return await create_app(conn, name, origin, require_identification, actor=OPERATOR)

    app = _run(work, as_json=as_json)
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
    app_id: Annotated[str, typer.Argument(metavar="APP_ID", help="As apps list prints it.")],
    origin: Annotated[
        list[str] | None,
        typer.Option(metavar="ORIGIN", help="Replaces the allowed origins; repeat for several."),
    ] = None,
    name: Annotated[str | None, typer.Option(metavar="NAME", help="A new name.")] = None,
    require_identification: Annotated[
        bool | None, typer.Option(help=_REQUIRE_ID_HELP, show_default=False)
    ] = None,
    time_zone: Annotated[
        str | None,
        typer.Option(
            metavar="ZONE", help="IANA time zone of the office hours, e.g. Europe/Berlin."
        ),
    ] = None,
    office_hours: Annotated[
        list[str] | None,
        typer.Option(
            metavar="DAY=HOURS",
            help="DAY=HH:MM-HH:MM[,...], e.g. monday=09:00-17:30; repeat per weekday. "
            "Replaces the weekly hours; days left out are closed.",
        ),
    ] = None,
    always_open: Annotated[
        bool, typer.Option("--always-open", help="Remove the office hours.")
    ] = False,
    reply_time: Annotated[
        str | None,
        typer.Option(metavar="TIME", help='minutes, hour, hours or day; "" shows none.'),
    ] = None,
    away_message: Annotated[
        str | None,
        typer.Option(metavar="TEXT", help='Posted once per conversation when away; "" for none.'),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an app: origins, name, identification, availability.

    Options left out keep their value."""
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

    app = _run(work, as_json=as_json)
    _emit(as_json, app_json(app), f"updated app {app.app_id}: {', '.join(app.allowed_origins)}")


@apps_cli.command("list")
def apps_list(as_json: JsonOpt = False) -> None:
    """List the apps: id, name, allowed origins."""

    async def work(runtime: Runtime) -> list[App]:
        async with runtime.db.read() as conn:
            return await list_apps(conn)

    found = _run(work, as_json=as_json)
    lines = [f"{a.app_id}  {a.name}  {' '.join(a.allowed_origins)}" for a in found]
    _emit(as_json, {"apps": [app_json(a) for a in found]}, "\n".join(lines))


@agents_cli.command("create")
def agents_create(
    email: Annotated[str, typer.Option(metavar="EMAIL", help="Their sign-in email.")],
    name: Annotated[
        str | None, typer.Option(metavar="NAME", help="Shown to visitors (default: from email).")
    ] = None,
    role: Annotated[
        str, typer.Option(metavar="ROLE", help="admin (may change settings) or agent.")
    ] = "agent",
    as_json: JsonOpt = False,
) -> None:
    """Add an agent or admin; their inbox password is printed once."""
    if role not in ("admin", "agent"):
        raise typer.BadParameter("role must be admin or agent", param_hint="--role")
    chosen: Role = "admin" if role == "admin" else "agent"

    password = generate_password()

    async def work(runtime: Runtime) -> DevUser:
        async with runtime.db.write() as conn:
            return await create_dev_user(
                conn, email, name, chosen, password=password, actor=OPERATOR
            )

    user = _run(work, as_json=as_json)
    _emit(
        as_json,
        {**_agent_json(user), "password": password},
        f"created {user.role} {user.email}\ninbox password (shown once): {password}",
    )


@agents_cli.command("set-password")
def agents_set_password(
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The agent's email.")],
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

    user = _run(work, as_json=as_json)
    shown = {"password": password} if generate else {}
    text = f"password set for {user.email}"
    if generate:
        text += f"\ninbox password (shown once): {password}"
    _emit(as_json, {**_agent_json(user), **shown}, text)


@agents_cli.command("list")
def agents_list(as_json: JsonOpt = False) -> None:
    """List the agents: email, role, name."""

    async def work(runtime: Runtime) -> list[DevUser]:
        async with runtime.db.read() as conn:
            return await list_dev_users(conn)

    found = _run(work, as_json=as_json)
    lines = [f"{u.email}  {u.role}  {u.display_name}" for u in found]
    _emit(as_json, {"agents": [_agent_json(u) for u in found]}, "\n".join(lines))


def _issue(
    kind: tokens.TokenKind,
    email: str | None,
    app_id: str | None,
    days: int,
    hint: str | None,
    as_json: bool,
) -> dict[str, Any]:
    async def work(runtime: Runtime) -> dict[str, Any]:
        async with runtime.db.write() as conn:
            if email is None:
                owner = (await list_dev_users(conn))[0]
            else:
                owner = await get_dev_user_by_email(conn, email)
            app_pk = None if app_id is None else (await get_app(conn, app_id)).pk
            secret, token = await tokens.issue_access_token(
                conn, runtime.secrets.token_pepper, kind=kind, dev_user_id=owner.pk,
                app_pk=app_pk, expires_in_days=days, token_hint=hint, actor=OPERATOR,
            )  # fmt: skip
        view = token_view(runtime, token).model_dump()
        return {"token": secret, **view}

    return _run(work, as_json=as_json)


@tokens_cli.command("create")
def tokens_create(
    app: Annotated[str, typer.Option(metavar="APP_ID", help="The app the AAT is for.")],
    days: Annotated[
        int, typer.Option(min=1, max=tokens.AAT_MAX_DAYS, metavar="DAYS", help="Lifetime.")
    ] = tokens.AAT_DEFAULT_DAYS,
    hint: Annotated[
        str | None, typer.Option(metavar="LABEL", help="A label to recognise it by.")
    ] = None,
    agent: Annotated[
        str | None,
        typer.Option(metavar="EMAIL", help="Creator's email (default: first admin)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an AAT; the secret is printed once and never again."""
    if not app.strip():
        raise typer.BadParameter("give the app_id the AAT is for (see: openplug apps list)",
                                 param_hint="'--app'")  # fmt: skip
    data = _issue("aat", agent, app, days, hint, as_json)
    _emit(as_json, data, f"{data['token']}\n(token_id {data['token_id']}; shown once)")


@tokens_cli.command("list")
def tokens_list(as_json: JsonOpt = False) -> None:
    """List the AATs: id, app, status, label, expiry, last use (never a secret)."""

    async def work(runtime: Runtime) -> list[dict[str, Any]]:
        async with runtime.db.read() as conn:
            found = await tokens.list_tokens(conn, kind="aat")
        return [token_view(runtime, t).model_dump() for t in found]

    found = _run(work, as_json=as_json)
    lines = [
        f"{t['display_id']}  {t['client_id']}  {t['status']}  {t['token_hint']}  "
        f"expires {t['expires_at']}  last used {t['last_used_at'] or 'never'}"
        for t in found
    ]
    _emit(as_json, {"tokens": found}, "\n".join(lines))


@tokens_cli.command("revoke")
def tokens_revoke(
    token_id: Annotated[
        str, typer.Argument(metavar="TOKEN_ID", help="TOKEN-7, its DON or its key, as printed.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Revoke an AAT, PAT or inbox sign-in; sockets using it close."""

    async def work(runtime: Runtime) -> dict[str, Any]:
        token = await revoke_token(runtime, parse_token_id(token_id), by=None, actor=OPERATOR)
        return token_view(runtime, token).model_dump()

    data = _run(work, as_json=as_json)
    _emit(as_json, data, f"revoked {data['token_id']}")


@pat_cli.command("create")
def pat_create(
    email: Annotated[
        str | None,
        typer.Option(metavar="EMAIL", help="The agent's email (default: first admin)."),
    ] = None,
    days: Annotated[
        int, typer.Option(min=1, max=3650, metavar="DAYS", help="Lifetime.")
    ] = tokens.PAT_DEFAULT_DAYS,
    hint: Annotated[
        str | None, typer.Option(metavar="LABEL", help="A label to recognise it by.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a PAT for an agent; printed once."""
    data = _issue("pat", email, None, days, hint, as_json)
    _emit(as_json, data, f"{data['token']}\n(token_id {data['token_id']}; shown once)")


def _existing_secrets_file(as_json: bool) -> Path:
    path = _settings().resolved_secrets_file()
    if not path.exists():
        _fail(as_json, {"type": "not_found", "message": NoInstance.at(_settings()).args[0]})
    return path


@keys_cli.command("rotate")
def keys_rotate(as_json: JsonOpt = False) -> None:
    """Sign new session tokens with a new key; tokens signed before stay valid."""
    key = rotate_signing_key(_existing_secrets_file(as_json))
    _emit(
        as_json,
        {"kid": key.kid},
        f"new signing key {key.kid}; servers load it on restart or first sight",
    )


@keys_cli.command("retire")
def keys_retire(
    kid: Annotated[str, typer.Argument(metavar="KID", help="The key's id, as rotate printed it.")],
    as_json: JsonOpt = False,
) -> None:
    """Forget an old key: session tokens it signed stop working."""
    retire_signing_key(_existing_secrets_file(as_json), kid)
    _emit(as_json, {"retired": kid}, f"retired {kid}; restart servers to apply")


def main() -> None:
    cli()
