"""Erasing a person: ``rev-users.delete``.

The documented choice is erasure, not anonymisation: a support history is
the person's own words, and an "anonymised" transcript still names them in
what they wrote. So in one transaction:

- the rev user goes, and with them every anonymous identity that was merged
  into them (the same person before they logged in), their anonymous
  credentials and merge records (foreign keys cascade);
- every conversation in which no one else is a member goes whole, agents'
  replies included: it was a conversation with that person only;
- in a conversation shared with other people, what the person wrote is
  replaced by ``REDACTED`` (its author becomes nobody): the others keep the
  thread, seqs stay gapless, and nothing the person typed remains.

- their files go, bytes included: every artifact they uploaded (in any
  conversation), and every artifact of a conversation that goes whole. The
  rows are deleted here; the stored objects by an outbox job enqueued in
  this transaction (``artifacts.service.forget_objects``), retried until
  the storage has let them go.

Workspaces and accounts stay: they are the customer company's records, not
the person's, and other users may belong to them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug import idempotency
from openplug.artifacts import service as artifacts
from openplug.artifacts.tables import artifacts as artifact_rows
from openplug.audit import Actor, record
from openplug.conversations.tables import conversation_members, conversations, messages
from openplug.crm.tables import rev_users
from openplug.ids import REV_USER, display_id
from openplug.widget.tables import visitor_merges

REDACTED = "(removed: its author's personal data was erased)"


@dataclass(frozen=True)
class Erasure:
    """What went; the keys are for telling their open sockets."""

    rev_user_keys: tuple[int, ...]
    conversations_deleted: int
    messages_redacted: int
    files_erased: int = 0


async def erase_rev_user(conn: AsyncConnection, key: int, *, actor: Actor) -> Erasure:
    merged = (
        await conn.execute(
            select(visitor_merges.c.anonymous_rev_user_id).where(
                visitor_merges.c.identified_rev_user_id == key
            )
        )
    ).scalars()
    identities = (key, *(int(k) for k in merged))
    theirs = select(conversation_members.c.conversation_id).where(
        conversation_members.c.rev_user_id.in_(identities)
    )
    shared = select(conversation_members.c.conversation_id).where(
        conversation_members.c.conversation_id.in_(theirs),
        conversation_members.c.rev_user_id.not_in(identities),
    )
    going = [
        *await artifacts.artifacts_of_rev_users(conn, identities),
        *await artifacts.artifacts_of_conversations(
            conn, select(conversations.c.id).where(
                conversations.c.id.in_(theirs), conversations.c.id.not_in(shared)
            ),
        ),
    ]  # fmt: skip
    await artifacts.forget_objects(conn, list({int(r["id"]): r for r in going}.values()))
    await conn.execute(
        delete(artifact_rows).where(artifact_rows.c.uploader_rev_user_id.in_(identities))
    )
    deleted = await conn.execute(
        delete(conversations).where(
            conversations.c.id.in_(theirs), conversations.c.id.not_in(shared)
        )
    )
    redacted = await conn.execute(
        update(messages)
        .where(messages.c.author_rev_user_id.in_(identities))
        .values(body=REDACTED, author_rev_user_id=None)
    )
    await conn.execute(delete(rev_users).where(rev_users.c.id.in_(identities)))
    await idempotency.forget_visitors(conn, identities)
    erasure = Erasure(identities, deleted.rowcount, redacted.rowcount, len(going))
    await record(
        conn, actor, "rev_user.erased", display_id(REV_USER, key),
        {"anonymous_identities": [display_id(REV_USER, k) for k in identities[1:]],
         "conversations_deleted": erasure.conversations_deleted,
         "messages_redacted": erasure.messages_redacted,
         "files_erased": erasure.files_erased},
    )  # fmt: skip
    return erasure
