"""Tables of conversations: the conversations, who is in them, who owns
them, their messages and how far each reader has read."""

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from openplug.db.base import KEYS_NEVER_REUSED, Json, UtcDateTime, metadata

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    # The app whose widget started it; NULL when an agent started it, which
    # makes it visible to its members in every app's widget.
    Column("app_pk", Integer, ForeignKey("apps.id", ondelete="SET NULL"), nullable=True),
    # The seq of the newest message; messages take the next one under the
    # row lock of an UPDATE, so seqs are gapless and unique per conversation.
    Column("last_seq", Integer, nullable=False),
    # The seq of the newest entry its visitors may read (see
    # ``visibility``): what their views show as ``last_seq``, so a note
    # never shows as a step they cannot account for.
    Column("visitor_last_seq", Integer, nullable=False, server_default="0"),
    Column("last_message_at", UtcDateTime, nullable=True),
    # The newest message's time, or the creation time: what lists sort by.
    Column("activity_at", UtcDateTime, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("modified_at", UtcDateTime, nullable=False),
    # DevRev's fields an agent sets (conversations.create / .update): tags
    # as their names or ids (there is no tags.* yet), custom fields as sent.
    Column("description", Text, nullable=True),
    Column("tags", Json, nullable=False, server_default="[]"),
    Column("custom_fields", Json, nullable=False, server_default="{}"),
    Index("ix_conversations_activity", "activity_at", "id"),
    **KEYS_NEVER_REUSED,
)

# The rev users in a conversation, with how far each has read.
conversation_members = Table(
    "conversation_members",
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
    Column("last_read_seq", Integer, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

# The agents a conversation is assigned to (DevRev's ``owned_by``); none:
# unassigned. Indexed by agent too, for the inbox's "Mine" view.
conversation_owners = Table(
    "conversation_owners",
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
        index=True,
    ),
)

# How far each agent has read; a row appears when an agent first reads or posts.
agent_reads = Table(
    "agent_reads",
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
    Column("last_read_seq", Integer, nullable=False),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "conversation_id",
        Integer,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("seq", Integer, nullable=False),
    # Exactly one author: a rev user (the visitor), a dev user (an agent) or
    # an app's team, for what openplug posts on its behalf (the away
    # message; shown as a sys_user named after the app). All become NULL if
    # the author is deleted; the message stays.
    Column("author_rev_user_id", Integer, ForeignKey("rev_users.id", ondelete="SET NULL")),
    Column("author_dev_user_id", Integer, ForeignKey("dev_users.id", ondelete="SET NULL")),
    Column("author_app_pk", Integer, ForeignKey("apps.id", ondelete="SET NULL")),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # When its author last edited it (timeline-entries.update); NULL: never.
    Column("modified_at", UtcDateTime, nullable=True),
    # DevRev's visibility: external | public (the visitors see it),
    # internal (a note: agents only), private (its author only).
    Column("visibility", String(16), nullable=False, server_default="external"),
    # The seq its latest edit took: an edit is a step of the stream a
    # socket resumes, so a reader that was away is told (NULL: never edited).
    Column("edited_seq", Integer, nullable=True),
    UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
    CheckConstraint(
        "author_rev_user_id IS NULL OR author_dev_user_id IS NULL",
        name="ck_messages_one_author",
    ),
    CheckConstraint(
        "author_app_pk IS NULL OR (author_rev_user_id IS NULL AND author_dev_user_id IS NULL)",
        name="ck_messages_team_author",
    ),
    **KEYS_NEVER_REUSED,
)

# What a resuming reader must be told was deleted: each deletion takes the
# conversation's next seq, as an edit does. Cascades with the conversation.
deleted_entries = Table(
    "deleted_entries",
    metadata,
    Column(
        "conversation_id",
        Integer,
        ForeignKey("conversations.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("seq", Integer, primary_key=True),
    # The entry's key, which its row no longer holds.
    Column("message_id", Integer, nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("author_dev_user_id", Integer, nullable=True),
    Column("deleted_at", UtcDateTime, nullable=False),
)
