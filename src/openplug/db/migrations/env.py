"""Alembic environment: runs on the connection that ``openplug.db.migrate``
hands over, so migrations share the server's engine and driver."""

from alembic import context

import openplug.activity.tables
import openplug.artifacts.tables
import openplug.audit.tables
import openplug.conversations.tables
import openplug.crm.tables
import openplug.idempotency.tables
import openplug.identity.tables
import openplug.mail.tables
import openplug.outbox.tables
import openplug.tags.tables
import openplug.webhooks.tables
import openplug.widget.tables  # noqa: F401  (registers the tables)
from openplug.db.base import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through openplug.db.migrate or `openplug init`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
