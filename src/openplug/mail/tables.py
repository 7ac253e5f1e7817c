"""Tables of mail: what was (or would have been) sent, visitors' mail
settings, and how far each recipient has been mailed."""

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table, Text

from openplug.db.base import KEYS_NEVER_REUSED, UtcDateTime, metadata

# Every mail openplug composed, as sent: Settings -> Email lists them, and
# the send job reads the message from here, so a retry sends the same bytes
# with the same Message-ID.
outgoing_mails = Table(
    "outgoing_mails",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(255), nullable=False, unique=True),
    # visitor_reply | agent_new_conversation | agent_unread
    Column("kind", String(32), nullable=False),
    Column("conversation_id", Integer, ForeignKey("conversations.id", ondelete="SET NULL")),
    # Whom it went to: erasing that person erases their mail too.
    Column("rev_user_id", Integer, ForeignKey("rev_users.id", ondelete="CASCADE")),
    Column("dev_user_id", Integer, ForeignKey("dev_users.id", ondelete="CASCADE")),
    Column("recipient", String(320), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("raw", Text, nullable=False),
    # queued -> sent | failed; held: composed with no SMTP server configured
    # (the embedded default), kept to be read, never sent.
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime, nullable=True),
    Column("last_error", String(500), nullable=True),
    Index("ix_outgoing_mails_conversation", "conversation_id"),
    Index("ix_outgoing_mails_rev_user", "rev_user_id"),
    **KEYS_NEVER_REUSED,
)

# A visitor's mail settings; no row means the defaults (mailed at the email
# trait, subscribed).
visitor_mail = Table(
    "visitor_mail",
    metadata,
    Column(
        "rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # An anonymous visitor's "get replies by email": unverified, so it is
    # only ever mailed to, never used to find, identify or merge anyone.
    Column("email_claim", String(320), nullable=True),
    Column("claimed_at", UtcDateTime, nullable=True),
    Column("unsubscribed_at", UtcDateTime, nullable=True),
)

# How far each visitor has been mailed in each conversation: the next
# digest carries only what came after.
visitor_mail_marks = Table(
    "visitor_mail_marks",
    metadata,
    Column(
        "conversation_id",
        Integer,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    Column("mailed_through_seq", Integer, nullable=False),
)

# The same for agents' notification mails.
agent_mail_marks = Table(
    "agent_mail_marks",
    metadata,
    Column(
        "conversation_id",
        Integer,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column(
        "dev_user_id",
        Integer,
        ForeignKey("dev_users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("mailed_through_seq", Integer, nullable=False),
)

# Replies that arrived by mail, one per inbound message and conversation,
# written in the transaction that posts the reply: a relay that retries a
# delivered message (the same Message-ID) finds its row and posts nothing.
inbound_replies = Table(
    "inbound_replies",
    metadata,
    Column(
        "conversation_id",
        Integer,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    # SHA-256 (hex) of the Message-ID, or of the body when there is none.
    Column("mail_digest", String(64), primary_key=True),
    # Erasing the visitor erases the record of their mail.
    Column(
        "rev_user_id",
        Integer,
        ForeignKey("rev_users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="SET NULL"), nullable=True),
    Column("received_at", UtcDateTime, nullable=False),
)
