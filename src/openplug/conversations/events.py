"""What changed in a conversation, told to listeners after the commit.

The conversations service calls ``publish_changes`` once each write has
committed, so a listener (the realtime hub) never announces data that then
rolls back. Listeners are plain callables that must not block: a hub
enqueues and returns. Nothing here knows about sockets.

Work that must exist exactly when the change does (a mail to send later)
is a ``TransactionHook`` instead: it runs inside the change's transaction,
before the commit, and its failure fails the change.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

log = logging.getLogger("openplug.conversations")

ChangeKind = Literal[
    "conversation.created",
    "conversation.updated",
    "conversation.deleted",
    "message.created",
    "message.updated",
    "message.deleted",
    "conversation.read",
    "conversation.members_changed",
]
# sys_user: an app's team, for what openplug posts on its behalf (the away
# message); its key is the app's.
AuthorKind = Literal["rev_user", "dev_user", "sys_user"]


@dataclass(frozen=True)
class ConversationChange:
    kind: ChangeKind
    conversation_key: int
    # Whose widgets may be told: the visitors in the conversation once the
    # change committed (agents may see every conversation).
    member_keys: tuple[int, ...]
    app_pk: int | None
    status: str
    # message.created: the new message's seq, what clients resume from.
    seq: int | None = None
    # conversation.read: the reader's new last read seq. Kept apart from
    # ``seq`` so a resume never mistakes a read receipt for a message.
    read_seq: int | None = None
    message_key: int | None = None
    actor_kind: AuthorKind | None = None
    actor_key: int | None = None
    # conversation.created / .updated: the owners once the change committed,
    # told to agents only (visitors are not told who handles their case).
    owner_keys: tuple[int, ...] = ()
    # An assignment alone: nothing a visitor's widget shows changed, so only
    # agents are told.
    agents_only: bool = False
    # message.*: the entry's visibility (``conversations.visibility``); a
    # listener tells visitors of external and public ones only.
    visibility: str = "external"


ChangeListener = Callable[[ConversationChange], None]
TransactionHook = Callable[[AsyncConnection, ConversationChange], Awaitable[None]]


async def run_transaction_hooks(
    hooks: Iterable[TransactionHook], conn: AsyncConnection, changes: Iterable[ConversationChange]
) -> None:
    for change in changes:
        for hook in hooks:
            await hook(conn, change)


def publish_changes(
    listeners: Iterable[ChangeListener], changes: Iterable[ConversationChange]
) -> None:
    """Tell every listener; one failing listener neither stops the others
    nor fails the request whose write has already committed."""
    for change in changes:
        for listener in listeners:
            try:
                listener(change)
            except Exception:
                log.exception("conversation change listener failed: %s", change.kind)
