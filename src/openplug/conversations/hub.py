"""``ConversationHub``: turns committed conversation changes into realtime
events and publishes them, in commit order, on the process's broker.

Topics and what they carry (every event is a JSON object with a ``type``):

- ``conversation:<n>`` (``n`` as in ``CONV-n``), for its members' widgets
  and for agents: ``message.created`` (``seq`` and the whole ``message``:
  body, author summary, ``created_date``), ``message.updated`` (the
  edited ``message``; its ``seq`` is the edit's own, the message keeps
  its ``message.seq``), ``message.deleted`` (the entry's ``id`` and the
  deletion's ``seq``): edits and deletes are steps of the resumable
  stream, so a socket that was away is told of them,
  ``conversation.read``
  (``read_seq`` and the ``reader``), ``conversation.updated`` (``status``),
  ``conversation.members_changed``, ``conversation.deleted`` (also on
  ``user:`` and ``inbox``: every view drops it), and ``typing`` (never
  stored).
- ``user:<n>`` (``n`` as in ``REVU-n``), one visitor's other conversations:
  ``conversation.created``, ``conversation.activity`` (a new message:
  ``last_seq``; or a deleted one, whose unread count may have dropped),
  ``conversation.updated``, ``conversation.members_changed``;
  each names the conversation's ``topic`` to subscribe to.
- ``notes:<n>``, agents only: the ``message.created`` / ``.updated`` /
  ``.deleted`` of the conversation's internal notes, in the same shapes
  (the message carries ``visibility``). A note is never published where a
  visitor may subscribe; a ``private`` entry is published nowhere (only its
  author may read it, and their own answer shows it).
- ``inbox``, agents only: the same notifications for every conversation,
  with what only agents are told: ``conversation.created`` and
  ``conversation.updated`` carry ``owned_by`` (dev user summaries, as
  ``conversations.get`` shows them), ``conversation.activity`` the new
  ``message`` (what the inbox's desktop notifications show), and an
  assignment alone is told here only.

Only ``message.*`` events carry a ``seq``: a socket resumes and
de-duplicates each topic by it, so no other counter may use that name.
``conversation:<n>`` and ``notes:<n>`` share the conversation's seqs, each
with the other's as gaps (as a deleted entry leaves one), which a
resuming socket replays across.

**Why one worker and not a publish per change.** The listener runs in the
request that committed, right after the commit, and must not wait; but a
message event needs one read (the author's name), and publishing the reads'
results in whatever order they finish could put seq 5 on the wire before
seq 4, which a socket would then drop as already seen. So the listener only
queues the change; one task per process reads a batch of them in one query
and publishes them in the order they were committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from sqlalchemy import select

from openplug.artifacts.service import Links
from openplug.conversations import visibility as seen
from openplug.conversations.events import ConversationChange
from openplug.conversations.render import ConversationRenderer
from openplug.conversations.service import changes_after, messages_after
from openplug.conversations.tables import messages
from openplug.ids import COMMENT, CONVERSATION, DEV_USER, REV_USER, ascii_int, don
from openplug.realtime import (
    Broker,
    Event,
    PublishFailed,
    ReplayTooLarge,
    conversation_topic,
    user_topic,
)
from openplug.runtime import Runtime

log = logging.getLogger("openplug.realtime")

INBOX_TOPIC = "inbox"
NOTES_PREFIX = "notes"
# A socket that missed more than this pages the gap over HTTP (messages.list).
REPLAY_LIMIT = 500
_BATCH = 100
DRAIN_SECONDS = 5.0


def topic_key(topic: str, prefix: str) -> int | None:
    """``12`` for ``conversation:12`` with prefix ``conversation``; else None.

    Only the form the hub publishes on: ``conversation:012`` would be
    authorised for conversation 12 yet never hear a thing."""
    kind, sep, rest = topic.partition(":")
    key = ascii_int(rest) if kind == prefix and sep else None
    return key if key and str(key) == rest else None


def notes_topic(key: int) -> str:
    return f"{NOTES_PREFIX}:{key}"


def actor_ref(org_id: str, kind: str, key: int) -> dict[str, str]:
    return {"type": kind, "id": don(org_id, DEV_USER if kind == "dev_user" else REV_USER, key)}


async def replay_messages(
    runtime: Runtime, key: int, after_seq: int, *, notes: bool = False
) -> list[Event]:
    """Every step of the stream after ``after_seq``, in the live events'
    shapes: ``message.created`` for each new message (the same rows as the
    widget's ``messages.list``, as they are now), ``message.updated`` for
    each entry edited since, ``message.deleted`` for each deleted since.
    ``notes``: the internal notes' stream instead (``notes:<n>``)."""
    reader = seen.TEAM if notes else seen.VISITOR
    only = ("internal",) if notes else None
    async with runtime.db.read() as conn:
        rows, more = await messages_after(
            conn, key, after_seq, REPLAY_LIMIT, reader=reader, visibilities=only
        )
        changed = await changes_after(conn, key, after_seq, reader=reader, visibilities=only)
        if more or len(rows) + len(changed.edited) + len(changed.deleted) > REPLAY_LIMIT:
            raise ReplayTooLarge(
                f"more than {REPLAY_LIMIT} messages missed: page them with messages.list, "
                "then subscribe after the last seq"
            )
        renderer = ConversationRenderer(conn, runtime.org_id, Links(runtime))
        created = [_message_event(m) for m in await renderer.shared_messages(rows)]
        edited = [
            _edit_event(m, int(r["edited_seq"]))
            for r, m in zip(
                changed.edited, await renderer.shared_messages(changed.edited), strict=True
            )
        ]
    conversation_id = don(runtime.org_id, CONVERSATION, key)
    deleted = [
        _delete_event(runtime.org_id, conversation_id, int(d["message_id"]), int(d["seq"]))
        for d in changed.deleted
    ]
    return sorted([*created, *edited, *deleted], key=lambda e: int(e["seq"]))


def _edit_event(message: dict[str, Any], seq: int | None) -> Event:
    return {"type": "message.updated", "conversation": message["conversation"], "seq": seq,
            "message": message}  # fmt: skip


def _delete_event(org_id: str, conversation_id: str, message_key: int, seq: int | None) -> Event:
    return {"type": "message.deleted", "conversation": conversation_id,
            "id": don(org_id, COMMENT, message_key), "seq": seq}  # fmt: skip


def _message_event(message: dict[str, Any]) -> Event:
    return {
        "type": "message.created",
        "conversation": message["conversation"],
        "seq": message["seq"],
        "message": message,
    }


class ConversationHub:
    """One per process: ``on_change`` is a ``runtime.change_listeners``
    entry; ``start()`` and ``aclose()`` bracket the server's life."""

    def __init__(self, runtime: Runtime, broker: Broker) -> None:
        self._runtime = runtime
        self._broker = broker
        # Unbounded on purpose: dropping a committed message would leave
        # live sockets with a gap they cannot see. It holds what the
        # database wrote faster than one read per batch can follow.
        self._pending: deque[ConversationChange] = deque()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._closing = False

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    def on_change(self, change: ConversationChange) -> None:
        """Called after commit, in the committing request: only enqueues."""
        if self._closing:
            return
        self._pending.append(change)
        self._wake.set()

    async def aclose(self) -> None:
        """Publish what is queued (for at most ``DRAIN_SECONDS``), then stop."""
        self._closing = True
        self._wake.set()
        if self._worker is None:
            return
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                await asyncio.shield(self._worker)
        except TimeoutError:
            log.warning("realtime hub: %d changes not published at shutdown", len(self._pending))
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(_BATCH, len(self._pending)))]
                try:
                    await self._publish_batch(batch)
                except Exception:
                    # Sockets that missed these catch up when they resume.
                    log.exception("realtime hub: publishing %d changes failed", len(batch))
            if self._closing:
                return

    async def _publish_batch(self, batch: list[ConversationChange]) -> None:
        message_keys = [
            c.message_key
            for c in batch
            if c.message_key is not None and c.kind != "message.deleted"
        ]
        owner_keys = sorted({k for c in batch for k in c.owner_keys})
        found: dict[int, dict[str, Any]] = {}
        agents: dict[int, dict[str, Any]] = {}
        if message_keys or owner_keys:
            async with self._runtime.db.read() as conn:
                renderer = ConversationRenderer(conn, self._runtime.org_id, Links(self._runtime))
                if message_keys:
                    rows = [
                        r._mapping
                        for r in await conn.execute(
                            select(messages).where(messages.c.id.in_(message_keys))
                        )
                    ]
                    shared = await renderer.shared_messages(rows)
                    found = {int(r["id"]): m for r, m in zip(rows, shared, strict=True)}
                if owner_keys:
                    agents = await renderer.dev_user_summaries(owner_keys)
        for change in batch:
            for topic, event in self._events(change, found, agents):
                try:
                    await self._broker.publish(topic, event)
                except PublishFailed as e:
                    log.warning("realtime hub: %s not published on %s: %s", change.kind, topic, e)

    def _events(
        self,
        change: ConversationChange,
        found: dict[int, dict[str, Any]],
        agents: dict[int, dict[str, Any]],
    ) -> list[tuple[str, Event]]:
        org = self._runtime.org_id
        key = change.conversation_key
        topic = conversation_topic(key)
        conversation_id = don(org, CONVERSATION, key)
        members = [user_topic(k) for k in change.member_keys]
        notice: Event = {"conversation": conversation_id, "topic": topic, "status": change.status}
        if change.kind.startswith("message.") and not seen.shown_to_visitors(change.visibility):
            return self._note_events(change, found, conversation_id)
        if change.kind == "message.created":
            message = found.get(change.message_key) if change.message_key is not None else None
            if message is None:
                return []  # deleted since; nothing to show
            activity = {**notice, "type": "conversation.activity", "last_seq": change.seq}
            return [
                (topic, _message_event(message)),
                *((t, activity) for t in members),
                (INBOX_TOPIC, {**activity, "message": message}),
            ]
        if change.kind == "message.updated":
            message = found.get(change.message_key) if change.message_key is not None else None
            if message is None:
                return []  # deleted since: its message.deleted follows
            edited = _edit_event(message, change.seq)
            return [(topic, edited), (INBOX_TOPIC, edited)]
        if change.kind == "message.deleted" and change.message_key is not None:
            gone = _delete_event(org, conversation_id, change.message_key, change.seq)
            # The members' lists too: an unread message gone lowers the count.
            activity = {**notice, "type": "conversation.activity"}
            return [(topic, gone), *((t, activity) for t in members), (INBOX_TOPIC, gone)]
        if change.kind == "conversation.read":
            event: Event = {"type": "conversation.read", "conversation": conversation_id,
                            "read_seq": change.read_seq}  # fmt: skip
            if change.actor_kind is not None and change.actor_key is not None:
                event["reader"] = actor_ref(org, change.actor_kind, change.actor_key)
            return [(topic, event)]
        if change.kind == "conversation.deleted":
            gone_conv: Event = {**notice, "type": "conversation.deleted"}
            return [(topic, gone_conv), *((t, gone_conv) for t in members),
                    (INBOX_TOPIC, gone_conv)]  # fmt: skip
        event = {**notice, "type": change.kind}
        for_agents = event
        if change.kind in ("conversation.created", "conversation.updated"):
            owned_by = [agents[k] for k in change.owner_keys if k in agents]
            for_agents = {**event, "owned_by": owned_by}
        if change.agents_only:
            return [(INBOX_TOPIC, for_agents)]
        return [(topic, event), *((t, event) for t in members), (INBOX_TOPIC, for_agents)]

    def _note_events(
        self, change: ConversationChange, found: dict[int, dict[str, Any]], conversation_id: str
    ) -> list[tuple[str, Event]]:
        """A note's events: on ``notes:<n>`` and ``inbox``, both agents only;
        a private entry's: none (its author's answer shows it)."""
        if change.visibility != "internal" or change.message_key is None:
            return []
        topic = notes_topic(change.conversation_key)
        if change.kind == "message.deleted":
            gone = _delete_event(
                self._runtime.org_id, conversation_id, change.message_key, change.seq
            )
            return [(topic, gone), (INBOX_TOPIC, gone)]
        message = found.get(change.message_key)
        if message is None:
            return []  # deleted since
        if change.kind == "message.created":
            activity: Event = {"conversation": conversation_id, "status": change.status,
                               "topic": conversation_topic(change.conversation_key),
                               "type": "conversation.activity", "message": message}  # fmt: skip
            return [(topic, _message_event(message)), (INBOX_TOPIC, activity)]
        edited = _edit_event(message, change.seq)
        return [(topic, edited), (INBOX_TOPIC, edited)]
