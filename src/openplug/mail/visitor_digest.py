"""Visitor continuity: an agent's replies the visitor has not seen in time
reach them by mail, one mail per burst.

An agent's message enqueues a digest job for each visitor in the
conversation, due after the app's delay, in the message's own transaction
(``on_change``). While it waits, further replies add nothing (the job's
``pending_key``), so the burst is one mail. When it runs it mails what the
visitor has neither read (a widget of theirs with the conversation open
marks it read) nor been mailed before, or nothing at all.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.artifacts.service import mail_file_links
from openplug.conversations import visibility as seen
from openplug.conversations.events import ConversationChange
from openplug.conversations.tables import conversation_members, conversations, messages
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.identity.tables import apps, dev_users
from openplug.mail.addresses import reply_address, unsubscribe_token
from openplug.mail.compose import MessageInMail, visitor_reply_mail
from openplug.mail.outgoing import advance_mark, store_mail
from openplug.mail.tables import visitor_mail, visitor_mail_marks
from openplug.mail.visitor_settings import address_on_file
from openplug.outbox import Job, Outcome, enqueue
from openplug.runtime import Runtime

log = logging.getLogger("openplug.mail")

KIND = "mail.visitor_digest"
DEFAULT_DELAY_SECONDS = 120


def pending_key(conversation_key: int, rev_user_key: int) -> str:
    return f"visitor-digest:{conversation_key}:{rev_user_key}"


async def on_change(conn: AsyncConnection, change: ConversationChange) -> None:
    """Inside the transaction of each conversation change."""
    if change.kind != "message.created" or change.actor_kind != "dev_user":
        return
    if not seen.shown_to_visitors(change.visibility):  # a note: nothing to mail them
        return
    if not change.member_keys:
        return
    delay = DEFAULT_DELAY_SECONDS
    if change.app_pk is not None:
        found = (
            await conn.execute(select(apps.c.mail_delay_seconds).where(apps.c.id == change.app_pk))
        ).scalar()
        delay = DEFAULT_DELAY_SECONDS if found is None else int(found)
    due = utcnow() + timedelta(seconds=delay)
    for member in change.member_keys:
        await enqueue(
            conn,
            KIND,
            {"conversation": change.conversation_key, "rev_user": member},
            due_at=due,
            pending_key=pending_key(change.conversation_key, member),
        )


def unsubscribe_url(runtime: Runtime, rev_user_key: int) -> str:
    token = unsubscribe_token(runtime.secrets.token_pepper, rev_user_key)
    return f"{runtime.settings.resolved_public_url()}/mail/unsubscribe?token={token}"


async def run(runtime: Runtime, job: Job) -> Outcome:
    conversation_key = int(job.payload["conversation"])
    rev_user_key = int(job.payload["rev_user"])
    m = conversation_members.c
    async with runtime.db.write() as conn:
        conversation = (
            await conn.execute(select(conversations).where(conversations.c.id == conversation_key))
        ).first()
        member = (
            await conn.execute(
                select(m.last_read_seq).where(
                    m.conversation_id == conversation_key, m.rev_user_id == rev_user_key
                )
            )
        ).first()
        user = (await conn.execute(select(rev_users).where(rev_users.c.id == rev_user_key))).first()
        if conversation is None or member is None or user is None or user.state != "active":
            return "dropped"
        prefs = (
            await conn.execute(
                select(visitor_mail).where(visitor_mail.c.rev_user_id == rev_user_key)
            )
        ).first()
        email = address_on_file(user.email, prefs.email_claim if prefs is not None else None)
        if email is None or (prefs is not None and prefs.unsubscribed_at is not None):
            return "dropped"
        k = visitor_mail_marks.c
        mailed = (
            await conn.execute(
                select(k.mailed_through_seq).where(
                    k.conversation_id == conversation_key, k.rev_user_id == rev_user_key
                )
            )
        ).scalar() or 0
        since = max(int(member.last_read_seq), int(mailed))
        rows = (
            await conn.execute(
                select(
                    messages.c.id,
                    messages.c.seq,
                    messages.c.body,
                    messages.c.created_at,
                    dev_users.c.display_name,
                )
                .join(dev_users, dev_users.c.id == messages.c.author_dev_user_id)
                .where(
                    messages.c.conversation_id == conversation_key,
                    messages.c.seq > since,
                    seen.readable_by(seen.VISITOR),
                )
                .order_by(messages.c.seq)
            )
        ).all()
        if not rows:
            return "dropped"  # seen in time
        app = None
        if conversation.app_pk is not None:
            app = (await conn.execute(select(apps).where(apps.c.id == conversation.app_pk))).first()
        site_url = None
        if app is not None:
            site_url = app.site_url or next(iter(app.allowed_origins or []), None)
        files = await mail_file_links(runtime, conn, [int(r.id) for r in rows], rev_user_key)
        pepper = runtime.secrets.token_pepper
        config = runtime.mail
        composed = visitor_reply_mail(
            config,
            conversation_key=conversation_key,
            rev_user_key=rev_user_key,
            title=str(conversation.title),
            to_name=str(user.display_name),
            to_email=email,
            team=str(app.name) if app is not None else config.sender.display_name or "Support",
            messages=[
                MessageInMail(r.display_name, r.body, r.created_at, files.get(int(r.id), ()))
                for r in rows
            ],
            reply_to=reply_address(
                pepper, config.inbound_domain, conversation_key, rev_user_key, email
            ),
            site_url=site_url,
            unsubscribe_url=unsubscribe_url(runtime, rev_user_key),
            now=utcnow(),
        )
        await store_mail(
            conn,
            config,
            composed,
            kind="visitor_reply",
            conversation_key=conversation_key,
            recipient=email,
            rev_user_key=rev_user_key,
        )
        keys = {"conversation_id": conversation_key, "rev_user_id": rev_user_key}
        await advance_mark(conn, visitor_mail_marks, keys, int(rows[-1].seq))
    log.info(
        "mail composed for conversation %s (%d message(s), %s)",
        conversation_key, len(rows), "queued" if config.smtp is not None else "held: no SMTP",
    )  # fmt: skip
    return "done"
