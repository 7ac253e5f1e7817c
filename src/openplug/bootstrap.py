"""First start: data directory, secrets, schema, the dev org, a demo app and
a bootstrap admin. Idempotent, and safe when several processes start at
once: the one that creates the org is the one that prints the credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import make_url, select
from sqlalchemy.exc import DBAPIError, IntegrityError

from openplug.audit import SYSTEM
from openplug.db import Database
from openplug.db.base import utcnow
from openplug.db.migrate import migrate
from openplug.identity import access_tokens as tokens
from openplug.identity.apps import App, create_app
from openplug.identity.dev_users import create_dev_user
from openplug.identity.passwords import generate_password
from openplug.identity.secrets_file import ensure_secrets
from openplug.identity.tables import instance
from openplug.private_files import private_dir
from openplug.runtime import Runtime
from openplug.settings import Settings

BOOTSTRAP_ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True)
class FirstStart:
    """Credentials made on the first start; shown once, never stored in clear."""

    admin_email: str
    admin_password: str
    pat: str
    app: App
    aat: str


class NoInstance(Exception):
    """There is no instance where the settings point: no key ring in the data
    directory, or no organisation in its database."""

    @classmethod
    def at(cls, settings: Settings, missing: str | None = None) -> NoInstance:
        where = settings.data_dir.resolve()
        found = missing or f"{settings.resolved_secrets_file().resolve()} does not exist"
        return cls(
            f"no openplug instance in {where} ({found}). Pass --data-dir (or set "
            "OPENPLUG_DATA_DIR) to the directory your server uses, and OPENPLUG_DATABASE_URL if "
            "it runs on PostgreSQL; `openplug init` creates a new instance."
        )


async def open_runtime(
    settings: Settings, *, create: bool = True
) -> tuple[Runtime, FirstStart | None]:
    """The instance's runtime. With ``create`` (the server, ``openplug
    init``) a missing instance is made; otherwise it is a ``NoInstance``
    error, and nothing is written anywhere."""
    if not create:
        _check_instance_files(settings)
    private_dir(settings.data_dir)
    server_secrets, _ = ensure_secrets(settings.resolved_secrets_file())
    db = Database(settings.resolved_database_url(), settings.pool_options())
    try:
        if not create and not await _has_org(db):
            raise NoInstance.at(settings, f"its database has no openplug organisation: "
                                f"{_shown_url(settings)}")  # fmt: skip
        await migrate(db)
        first: FirstStart | None = None
        async with db.read() as conn:
            org_id = await conn.scalar(select(instance.c.org_id))
        if org_id is None:
            try:
                org_id, first = await _create_org(db, settings, server_secrets.token_pepper)
            except IntegrityError:
                # Another process created the org first; use theirs.
                async with db.read() as conn:
                    org_id = await conn.scalar(select(instance.c.org_id))
        if org_id is None:
            raise RuntimeError("the instance row vanished while it was being created")
    except BaseException:
        await db.dispose()
        raise
    return Runtime(settings, db, server_secrets, org_id), first


def _check_instance_files(settings: Settings) -> None:
    if not settings.resolved_secrets_file().is_file():
        raise NoInstance.at(settings)
    if not settings.database_url and not settings.sqlite_file().is_file():
        raise NoInstance.at(
            settings,
            f"{settings.sqlite_file()} does not exist; a server on PostgreSQL needs "
            "OPENPLUG_DATABASE_URL here too",
        )


async def _has_org(db: Database) -> bool:
    """Whether the database holds an instance, without creating anything
    (the ``instance`` table may not exist at all)."""
    try:
        async with db.read() as conn:
            return await conn.scalar(select(instance.c.org_id)) is not None
    except DBAPIError:
        return False


def _shown_url(settings: Settings) -> str:
    return make_url(settings.resolved_database_url()).render_as_string(hide_password=True)


async def _create_org(db: Database, settings: Settings, pepper: bytes) -> tuple[str, FirstStart]:
    org_id = secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(instance.insert().values(id=1, org_id=org_id, created_at=utcnow()))
        password = generate_password()
        admin = await create_dev_user(
            conn, BOOTSTRAP_ADMIN_EMAIL, "Admin", "admin", password=password, actor=SYSTEM
        )
        pat, _ = await tokens.issue_access_token(
            conn, pepper, kind="pat", dev_user_id=admin.pk, app_pk=None,
            expires_in_days=tokens.PAT_DEFAULT_DAYS, token_hint="bootstrap admin", actor=SYSTEM,
        )  # fmt: skip
        app = await create_app(conn, "Demo", [settings.resolved_public_url()], actor=SYSTEM)
        aat, _ = await tokens.issue_access_token(
            conn, pepper, kind="aat", dev_user_id=admin.pk, app_pk=app.pk,
            expires_in_days=tokens.AAT_DEFAULT_DAYS, token_hint="demo website backend",
            actor=SYSTEM,
        )  # fmt: skip
    return org_id, FirstStart(admin.email, password, pat, app, aat)
