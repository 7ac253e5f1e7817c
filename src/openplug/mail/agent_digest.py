"""Agents' notification mails: a visitor's message nobody has answered or
read within ``OPENPLUG_AGENT_MAIL_DELAY_SECONDS`` reaches, by mail, each
agent who chose it and has no inbox open.

A visitor's message enqueues one job per conversation (a burst of
messages is one job). When it runs, each agent is considered in turn:
their preference (all / only conversations they own / none), whether an
inbox of theirs is open right now (they are told there, by a desktop
notification), what they have read or been mailed already, and whether an
agent has answered since. The first mail about a conversation no agent has
answered is "new conversation"; later ones are "unread message".
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.conversations.assignment import owners_of
from openplug.conversations.events import ConversationChange, TransactionHook
from openplug.conversations.tables import agent_reads, conversations, messages
from openplug.conversations.visibility import SHOWN_TO_VISITORS
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.identity.access_tokens import LAST_USED_GRANULARITY, inbox_in_use
from openplug.identity.dev_users import MailPreference
from openplug.identity.tables import dev_users
from openplug.mail.compose import MessageInMail, agent_notification_mail
from openplug.mail.outgoing import advance_mark, store_mail
from openplug.mail.tables import agent_mail_marks
from openplug.outbox import Job, Outcome, enqueue
from openplug.runtime import Runtime

log = logging.getLogger("openplug.mail")

KIND = "mail.agent_digest"
# An open inbox refreshes its sign-in's last use every granularity (its
# socket's re-check): twice that and a little is "open now".
INBOX_OPEN_WITHIN = 2 * LAST_USED_GRANULARITY + timedelta(seconds=30)


def wanted(preference: MailPreference, agent_key: int, owners: list[int]) -> bool:
    if preference == "all":
        return True
    return preference == "mine" and agent_key in owners


def hook(delay_seconds: int) -> TransactionHook:
    async def on_change(conn: AsyncConnection, change: ConversationChange) -> None:
        """Inside the transaction of each conversation change."""
        if change.kind != "message.created" or change.actor_kind != "rev_user":
            return
        await enqueue(
            conn,
            KIND,
            {"conversation": change.conversation_key},
            due_at=utcnow() + timedelta(seconds=delay_seconds),
            pending_key=f"agent-digest:{change.conversation_key}",
        )

    return on_change


async def run(runtime: Runtime, job: Job) -> Outcome:
    conversation_key = int(job.payload["conversation"])
    mailed_any = False
    async with runtime.db.write() as conn:
        conversation = (
            await conn.execute(select(conversations).where(conversations.c.id == conversation_key))
        ).first()
        if conversation is None:
            return "dropped"
        c = messages.c
        last_answer = (
            await conn.execute(
                # A note (agents only) does not answer the visitor.
                select(func.max(c.seq)).where(
                    c.conversation_id == conversation_key,
                    c.author_dev_user_id.is_not(None),
                    c.visibility.in_(SHOWN_TO_VISITORS),
                )
            )
        ).scalar()
        answered_through = int(last_answer or 0)
        waiting = (
            await conn.execute(
                select(c.seq, c.body, c.created_at, c.author_rev_user_id)
                .where(
                    c.conversation_id == conversation_key,
                    c.author_rev_user_id.is_not(None),
                    c.seq > answered_through,
                )
                .order_by(c.seq)
            )
        ).all()
        if not waiting:
            return "dropped"  # answered in time
        visitor = (
            await conn.execute(
                select(rev_users.c.display_name).where(
                    rev_users.c.id == waiting[-1].author_rev_user_id
                )
            )
        ).scalar() or "A visitor"
        owners = await owners_of(conn, conversation_key)
        agents = (
            await conn.execute(
                select(dev_users.c.id, dev_users.c.email, dev_users.c.display_name,
                       dev_users.c.mail_notifications)
            )
        ).all()  # fmt: skip
        kind = "agent_new_conversation" if last_answer is None else "agent_unread"
        public = runtime.settings.resolved_public_url()
        for agent in agents:
            agent_key = int(agent.id)
            if not wanted(agent.mail_notifications, agent_key, owners):
                continue
            if await inbox_in_use(conn, agent_key, INBOX_OPEN_WITHIN):
                continue  # told in the inbox
            seen = await _seen_through(conn, conversation_key, agent_key)
            unseen = [m for m in waiting if m.seq > seen]
            if not unseen:
                continue
            mail_kind = kind if seen == 0 else "agent_unread"
            composed = agent_notification_mail(
                runtime.mail,
                conversation_key=conversation_key,
                dev_user_key=agent_key,
                kind=mail_kind,
                title=str(conversation.title),
                visitor=str(visitor),
                to_name=str(agent.display_name),
                to_email=str(agent.email),
                messages=[MessageInMail(str(visitor), m.body, m.created_at) for m in unseen],
                link=f"{public}/inbox?c={conversation_key}",
                preferences_link=f"{public}/inbox",
                now=utcnow(),
            )
            await store_mail(
                conn,
                runtime.mail,
                composed,
                kind=mail_kind,
                conversation_key=conversation_key,
                recipient=str(agent.email),
                dev_user_key=agent_key,
            )
            keys = {"conversation_id": conversation_key, "dev_user_id": agent_key}
            await advance_mark(conn, agent_mail_marks, keys, int(unseen[-1].seq))
            mailed_any = True
    return "done" if mailed_any else "dropped"


async def _seen_through(conn: AsyncConnection, conversation_key: int, agent_key: int) -> int:
    """The newest message the agent has read or been mailed."""
    r, k = agent_reads.c, agent_mail_marks.c
    read = (
        await conn.execute(
            select(r.last_read_seq).where(
                r.conversation_id == conversation_key, r.dev_user_id == agent_key
            )
        )
    ).scalar()
    mailed = (
        await conn.execute(
            select(k.mailed_through_seq).where(
                k.conversation_id == conversation_key, k.dev_user_id == agent_key
            )
        )
    ).scalar()
    return max(int(read or 0), int(mailed or 0))
