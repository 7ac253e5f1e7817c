"""First start: data directory, secrets, schema, the dev org, a demo app and
a bootstrap admin. Idempotent, and safe when several processes start at
once: the one that creates the org is the one that prints the credentials.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

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


async def open_runtime(settings: Settings) -> tuple[Runtime, FirstStart | None]:
    private_dir(settings.data_dir)
    server_secrets, _ = ensure_secrets(settings.resolved_secrets_file())
    db = Database(settings.resolved_database_url())
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
    assert org_id is not None
    return Runtime(settings, db, server_secrets, org_id), first


async def _create_org(db: Database, settings: Settings, pepper: bytes) -> tuple[str, FirstStart]:
    org_id = secrets.token_hex(6)
    async with db.write() as conn:
        await conn.execute(instance.insert().values(id=1, org_id=org_id, created_at=utcnow()))
        password = generate_password()
        admin = await create_dev_user(
            conn, BOOTSTRAP_ADMIN_EMAIL, "Admin", "admin", password=password
        )
        pat, _ = await tokens.issue_access_token(
            conn, pepper, kind="pat", dev_user_id=admin.pk, app_pk=None,
            expires_in_days=tokens.PAT_DEFAULT_DAYS, token_hint="bootstrap admin",
        )  # fmt: skip
        app = await create_app(conn, "Demo", [settings.resolved_public_url()])
        aat, _ = await tokens.issue_access_token(
            conn, pepper, kind="aat", dev_user_id=admin.pk, app_pk=app.pk,
            expires_in_days=tokens.AAT_DEFAULT_DAYS, token_hint="demo website backend",
        )  # fmt: skip
    return org_id, FirstStart(admin.email, password, pat, app, aat)
