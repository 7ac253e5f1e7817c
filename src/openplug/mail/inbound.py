"""Replies by mail: the rules, whichever way the mail arrived (the SMTP
listener or the webhook), callable without either.

A reply lands in its conversation as the visitor's message when all hold:

- it is no larger than ``OPENPLUG_MAX_INBOUND_MAIL_BYTES``;
- it is addressed to one of our reply addresses, whose token names a
  conversation that exists and a visitor (rev user) in it, and whose MAC
  matches the address we mail that visitor at (their ``email`` trait, else
  the email an anonymous visitor left in the widget);
- its ``From`` is that address (case aside);
- a person wrote it (see ``inbound_parse.robot_reason``);
- something is left once the quoted history and the signature are gone.

Anything else is refused (``ReplyRefused``) and logged with the reason,
never with the token or the text, and nothing is stored. A robot's mail
(an out-of-office reply, a bounce) is accepted and dropped, so neither
side ever answers the other. A relay that retries a message it already
delivered (same Message-ID) gets the same success and nothing is posted
twice: the mail's digest is written in the transaction that posts it.

A reply longer than ``MAX_BODY_CHARS`` is clipped, with a note saying so,
rather than refused: a refusal would lose the visitor's words (a webhook
provider does not retry, and a bounce is easily missed), while the start
of a long mail is what the agent needs first.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.artifacts.attach import Attaching
from openplug.artifacts.service import store_mail_file
from openplug.conversations.service import MAX_BODY_CHARS, Author, PostedMessage, post_message
from openplug.conversations.tables import conversation_members
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.errors import ApiError
from openplug.mail.addresses import REPLY_PREFIX, ReplyToken, parse_reply_address
from openplug.mail.addresses import reply_token_matches as token_matches
from openplug.mail.inbound_parse import InboundMail, read_inbound_mail
from openplug.mail.tables import inbound_replies, visitor_mail
from openplug.runtime import Runtime
from openplug.widget.tables import visitor_merges

log = logging.getLogger("openplug.mail.inbound")

RefusalReason = Literal[
    "too_large", "not_for_us", "unknown_address", "not_the_recipient", "empty_reply"
]
Channel = Literal["smtp", "webhook"]
CLIPPED_NOTE = "\n\n[…] (clipped: the email was longer than {limit:,} characters)"

# SMTP's answer for each refusal (RFC 3463 enhanced status codes).
_SMTP_STATUS: dict[RefusalReason, str] = {
    "too_large": "552 5.3.4",
    "not_for_us": "550 5.1.1",
    "unknown_address": "550 5.1.1",
    "not_the_recipient": "550 5.7.1",
    "empty_reply": "550 5.6.0",
}


class ReplyRefused(ApiError):
    """An inbound mail that is not taken: nothing was stored. ``reason`` is
    what the log says; the message is what the sender (through a relay's
    bounce, or a provider's log) is told."""

    error_type = "invalid_field"

    def __init__(self, reason: RefusalReason, field_name: str | None, message: str) -> None:
        super().__init__(
            f"{field_name}: {message}" if field_name else message, field_name=field_name
        )
        self.reason = reason
        self.explanation = message
        # Once the reply address checked out: for the operator's log.
        self.conversation_key: int | None = None

    @property
    def smtp_reply(self) -> str:
        return f"{_SMTP_STATUS[self.reason]} {self.explanation}"


class ReplyTooLarge(ReplyRefused):
    # As the HTTP body limit answers (web/body_limit.py).
    status_code = 413
    error_type = "bad_request"

    def __init__(self, limit: int) -> None:
        super().__init__("too_large", None, f"the message is larger than {limit} bytes")


def _unknown_address() -> ReplyRefused:
    # One answer for an altered MAC, a conversation or visitor that does
    # not exist, and one who is not in the conversation: which of them it
    # was is not the sender's to learn.
    return ReplyRefused(
        "unknown_address", "recipient", "this reply address is unknown or no longer valid"
    )


@dataclass(frozen=True)
class ReplyTarget:
    """A reply address checked against the database."""

    conversation_key: int
    # Whom the address was issued to.
    rev_user_key: int
    # Who posts: the same visitor or, if that anonymous visitor has since
    # signed in and was merged, the identified visitor they became.
    author_key: int
    # The address the token is valid for: the only sender accepted.
    email: str


@dataclass(frozen=True)
class ReplyOutcome:
    """What became of an accepted mail: ``posted``; ``duplicate`` (a retry of
    one already posted); ``dropped`` (a robot's, with the reason)."""

    result: Literal["posted", "duplicate", "dropped"]
    conversation_key: int
    seq: int | None = None
    dropped_because: str | None = None


# --- the reply address ------------------------------------------------------------


async def check_recipient(runtime: Runtime, address: str) -> ReplyTarget:
    """The conversation and visitor ``address`` is a valid reply address
    of, for a recipient named before the message (SMTP's RCPT TO)."""
    domain = runtime.mail.inbound_domain
    token = parse_reply_address(address, domain)
    if token is None:
        local, at, host = address.strip().strip("<>").rpartition("@")
        if not at or host.lower() != domain:
            raise ReplyRefused("not_for_us", "recipient", "no relaying: not a domain of ours")
        if local.lower().startswith(REPLY_PREFIX):
            raise _unknown_address()
        raise ReplyRefused("not_for_us", "recipient", "no such mailbox")
    return await check_reply_token(runtime, token)


async def check_reply_token(runtime: Runtime, token: ReplyToken) -> ReplyTarget:
    async with runtime.db.read() as conn:
        user = (
            await conn.execute(
                select(rev_users.c.state, rev_users.c.email, visitor_mail.c.email_claim)
                .select_from(
                    rev_users.outerjoin(visitor_mail, visitor_mail.c.rev_user_id == rev_users.c.id)
                )
                .where(rev_users.c.id == token.rev_user_key)
            )
        ).first()
        email = None if user is None else (user.email or user.email_claim)
        if user is None or not email:
            raise _unknown_address()
        if not token_matches(runtime.secrets.token_pepper, token, email):
            raise _unknown_address()
        author = token.rev_user_key
        if user.state == "merged":
            author = await _merged_into(conn, token.rev_user_key)
        elif user.state != "active":
            raise _unknown_address()
        if not await _is_member(conn, token.conversation_key, author):
            raise _unknown_address()
    return ReplyTarget(token.conversation_key, token.rev_user_key, author, email)


async def _merged_into(conn: AsyncConnection, key: int) -> int:
    """The identified visitor an anonymous one was merged into: their
    conversations moved there, and so do their replies."""
    row = (
        await conn.execute(
            select(rev_users.c.id)
            .join(visitor_merges, visitor_merges.c.identified_rev_user_id == rev_users.c.id)
            .where(visitor_merges.c.anonymous_rev_user_id == key, rev_users.c.state == "active")
        )
    ).first()
    if row is None:
        raise _unknown_address()
    return int(row.id)


async def _is_member(conn: AsyncConnection, conversation_key: int, rev_user_key: int) -> bool:
    m = conversation_members.c
    return bool(
        await conn.scalar(
            select(
                exists().where(
                    m.conversation_id == conversation_key,
                    m.rev_user_id == rev_user_key,
                )
            )
        )
    )


# --- the reply --------------------------------------------------------------------


class _AlreadyPosted(Exception):
    """Raised inside the posting transaction to roll it back."""


async def receive_reply(
    runtime: Runtime,
    raw: bytes,
    *,
    recipients: list[str],
    envelope_sender: str | None,
    via: Channel = "smtp",
) -> ReplyOutcome:
    """Take one inbound mail: post it, recognise it as a retry, or drop it
    (a robot's); otherwise raise ``ReplyRefused``.

    ``recipients``: the envelope's RCPT TO addresses, or empty when they are
    not known (a webhook), and then the delivery and address headers are
    searched. ``envelope_sender``: MAIL FROM ("" for a bounce's null
    sender), or None when not known (then ``Return-Path`` stands for it)."""
    try:
        return await _receive(runtime, raw, recipients, envelope_sender, via)
    except ReplyRefused as refused:
        key = refused.conversation_key
        where = "" if key is None else f", conversation {key}"
        log.warning("reply by mail refused (%s%s, via %s)", refused.reason, where, via)
        raise


async def _receive(
    runtime: Runtime, raw: bytes, recipients: list[str], envelope_sender: str | None, via: str
) -> ReplyOutcome:
    limit = runtime.settings.max_inbound_mail_bytes
    if len(raw) > limit:
        raise ReplyTooLarge(limit)
    domain = runtime.mail.inbound_domain
    mail: InboundMail = await asyncio.to_thread(
        read_inbound_mail, raw, domain, recipients, envelope_sender
    )
    if mail.token is None:
        raise ReplyRefused("not_for_us", "recipient", "no reply address of ours is a recipient")
    target = await check_reply_token(runtime, mail.token)
    conversation = target.conversation_key
    if mail.robot is not None:
        # Dropped, not refused: a refusal makes the relay mail a bounce back
        # to the robot, and two robots answering each other never stop.
        log.info(
            "reply by mail dropped: sent by a program (%s), conversation %d, via %s",
            mail.robot, conversation, via,
        )  # fmt: skip
        return ReplyOutcome("dropped", conversation, dropped_because=mail.robot)
    if len(mail.senders) != 1 or mail.senders[0].lower() != target.email.lower():
        refused = ReplyRefused(
            "not_the_recipient", "From", "not the address this reply address was issued to"
        )
    elif not mail.text and not mail.files:
        refused = ReplyRefused("empty_reply", "body", "no reply text above the quoted message")
    else:
        return await _post(runtime, target, mail, via)
    refused.conversation_key = conversation
    raise refused


async def _post(runtime: Runtime, target: ReplyTarget, mail: InboundMail, via: str) -> ReplyOutcome:
    conversation = target.conversation_key
    text = mail.text
    if len(text) > MAX_BODY_CHARS:
        note = CLIPPED_NOTE.format(limit=MAX_BODY_CHARS)
        text = text[: MAX_BODY_CHARS - len(note)].rstrip() + note
    posted = await _post_once(runtime, target, mail, text)
    if posted is None:
        log.info("reply by mail was a retry, conversation %d, via %s", conversation, via)
        return ReplyOutcome("duplicate", conversation)
    log.info(
        "reply by mail posted to conversation %d as seq %d, via %s", conversation, posted.seq, via
    )
    return ReplyOutcome("posted", conversation, seq=posted.seq)


async def _post_once(
    runtime: Runtime, target: ReplyTarget, mail: InboundMail, text: str
) -> PostedMessage | None:
    """Post ``text`` unless this mail was posted to this conversation before
    (None then). The digest is inserted in the message's transaction: of
    two deliveries at once, the second waits on the first's row lock (the
    conversation's, PostgreSQL; the write lock, SQLite), then conflicts on
    the digest and rolls its message back."""
    key = target.conversation_key
    digest = mail.dedupe_key
    r = inbound_replies.c
    async with runtime.db.read() as conn:
        seen = await conn.scalar(
            select(exists().where(r.conversation_id == key, r.mail_digest == digest))
        )
    if seen:
        return None

    async def record(conn: AsyncConnection, posted: PostedMessage) -> None:
        # Still a member now, in the transaction that posts.
        if not await _is_member(conn, key, target.author_key):
            raise _unknown_address()
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        result = await conn.execute(
            insert(inbound_replies)
            .values(
                conversation_id=key,
                mail_digest=digest,
                rev_user_id=target.author_key,
                message_id=posted.message_key,
                received_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["conversation_id", "mail_digest"])
        )
        if not result.rowcount:
            raise _AlreadyPosted

    # Each file as an artifact of nobody's, checked like an upload; one that
    # is refused is left out (and logged), and the text still posts. A
    # retry that turns out a duplicate leaves its files unattached, for
    # the orphan sweep.
    files = [await store_mail_file(runtime, f.name, f.data, key) for f in mail.files]
    artifact_keys = [k for k in files if k is not None]
    if not text and not artifact_keys:
        refused = ReplyRefused(
            "empty_reply", "body", "no reply text, and none of its files may be sent"
        )
        refused.conversation_key = key
        raise refused
    try:
        return await post_message(
            runtime, key, Author("rev_user", target.author_key), text, also_write=record,
            artifact_keys=artifact_keys, attach_as=Attaching("mail", target.author_key),
        )  # fmt: skip
    except _AlreadyPosted:
        return None
