"""The rules of conversations: who may see one, how messages get their
sequence numbers, read state, and what is announced after each commit.

Messages take their ``seq`` from ``UPDATE conversations SET last_seq =
last_seq + 1 ... RETURNING last_seq`` in the transaction that inserts them:
the UPDATE holds the conversation's row lock (PostgreSQL) or the database's
write lock (SQLite, ``BEGIN IMMEDIATE``) until the commit, so concurrent
posts to one conversation get consecutive, unique seqs, and a rolled-back
post gives its seq back. A client that saw seq ``n`` asks for ``after_seq=n``
and gets exactly what it missed. Edits and deletions take the next seq the
same way (a resuming socket is told of them), and a reader skips the seqs
of entries it may not see (``visibility``): seqs increase, with gaps.

Every write commits first, then tells ``runtime.change_listeners`` (see
``events``); the realtime hub listens there.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row as SqlRow
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.artifacts.attach import Attaching, attach_artifacts
from openplug.artifacts.tables import artifacts as artifact_rows
from openplug.conversations import assignment
from openplug.conversations import visibility as seen
from openplug.conversations.events import (
    AuthorKind,
    ChangeKind,
    ConversationChange,
    publish_changes,
    run_transaction_hooks,
)
from openplug.conversations.tables import (
    agent_reads,
    conversation_members,
    conversations,
    deleted_entries,
    messages,
)
from openplug.conversations.visibility import Reader, Visibility
from openplug.crm.tables import rev_users
from openplug.db.base import utcnow
from openplug.errors import Forbidden, InvalidField, InvalidId, NotFound
from openplug.ids import COMMENT, CONVERSATION, REV_USER, ascii_int, don, parse_int_key
from openplug.runtime import Runtime

Row = Mapping[Any, Any]
Status = Literal["open", "resolved"]
STATUSES: tuple[Status, ...] = ("open", "resolved")
MAX_BODY_CHARS = 10_000
RECENT_MESSAGES = 10
TITLE_FROM_BODY_CHARS = 80
DEFAULT_TITLE = "Conversation"


@dataclass(frozen=True)
class Author:
    """Who writes or reads: a visitor (rev user), an agent (dev user), or an
    app's team (``sys_user``, keyed by the app) for automated messages."""

    kind: AuthorKind
    key: int


@dataclass(frozen=True)
class VisitorScope:
    """What a visitor's session token may see: conversations the rev user is
    a member of, started in this app's widget or by an agent."""

    rev_user_key: int
    app_pk: int


@dataclass(frozen=True)
class PostedMessage:
    conversation_key: int
    message_key: int
    seq: int
    # The message as inserted (what ``get_message`` would read back).
    row: Row


# --- ids and cursors --------------------------------------------------------------


def conversation_key(value: str, field_name: str = "id") -> int:
    return parse_int_key(value, CONVERSATION, field_name)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The last microsecond ``datetime`` can hold, counted from the epoch.
_MAX_MICROS = (datetime.max.replace(tzinfo=UTC) - _EPOCH) // timedelta(microseconds=1)


def encode_activity_cursor(activity_at: datetime, key: int) -> str:
    micros = (activity_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"c1:{micros}:{key}".encode()).decode().rstrip("=")


def decode_activity_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, micros_text, key_text = raw.split(":")
        micros, key = ascii_int(micros_text, _MAX_MICROS), ascii_int(key_text)
        if version != "c1" or micros is None or key is None:
            raise ValueError
        return _EPOCH + timedelta(microseconds=micros), key
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidField("cursor", "not a cursor this server handed out") from None


def message_key(value: str, field_name: str = "id") -> int:
    """A timeline entry's id (``don:...:comment/n`` or its display id)."""
    return parse_int_key(value, COMMENT, field_name)


def don_of_rev_user(org_id: str, key: int) -> str:
    return don(org_id, REV_USER, key)


def title_from_body(body: str) -> str:
    """A preview title: the first words of the first message, on one line."""
    line = " ".join(body.split())
    if len(line) <= TITLE_FROM_BODY_CHARS:
        return line or DEFAULT_TITLE
    return line[: TITLE_FROM_BODY_CHARS - 1].rstrip() + "…"


# --- reading ----------------------------------------------------------------------


# The statements of a message's post, built once: on the widget's and the
# agent's hot path, building one cost more than running it.
_CONVERSATION = select(conversations).where(conversations.c.id == bindparam("key"))
_VISIBLE_CONVERSATION = _CONVERSATION.where(
    exists().where(
        conversation_members.c.conversation_id == conversations.c.id,
        conversation_members.c.rev_user_id == bindparam("rev_user_key"),
    ),
    or_(conversations.c.app_pk == bindparam("app_pk"), conversations.c.app_pk.is_(None)),
)
_MEMBER_KEYS = select(conversation_members.c.rev_user_id).where(
    conversation_members.c.conversation_id == bindparam("key")
)
_INSERT_MESSAGE = insert(messages).returning(*messages.c)
_ADVANCE_VISITOR_READ = (
    update(conversation_members)
    .where(
        conversation_members.c.conversation_id == bindparam("key"),
        conversation_members.c.rev_user_id == bindparam("reader"),
        conversation_members.c.last_read_seq < bindparam("seq"),
    )
    .values(last_read_seq=bindparam("seq"))
)


async def get_conversation(conn: AsyncConnection, key: int) -> Row:
    row = (await conn.execute(_CONVERSATION, {"key": key})).first()
    if row is None:
        raise NotFound("conversation not found")
    return row._mapping


def _visible_to(scope: VisitorScope) -> list[Any]:
    return [
        exists().where(
            conversation_members.c.conversation_id == conversations.c.id,
            conversation_members.c.rev_user_id == scope.rev_user_key,
        ),
        or_(conversations.c.app_pk == scope.app_pk, conversations.c.app_pk.is_(None)),
    ]


async def visible_conversation(conn: AsyncConnection, key: int, scope: VisitorScope) -> Row:
    """The conversation if the visitor may see it. Otherwise the same 404 as
    for one that does not exist: whether it exists is not theirs to know."""
    params = {"key": key, "rev_user_key": scope.rev_user_key, "app_pk": scope.app_pk}
    row = (await conn.execute(_VISIBLE_CONVERSATION, params)).first()
    if row is None:
        raise NotFound("conversation not found")
    return row._mapping


@dataclass(frozen=True)
class ConversationFilters:
    """What agents may filter conversations.list by, beside paging."""

    tags: Sequence[str] | None = None
    rev_org_keys: Sequence[int] | None = None
    modified_after: datetime | None = None
    modified_before: datetime | None = None


async def list_conversations(
    conn: AsyncConnection,
    *,
    scope: VisitorScope | None = None,
    member_keys: Sequence[int] | None = None,
    statuses: Sequence[str] | None = None,
    owner_keys: Sequence[int] | None = None,
    unassigned: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
    backwards: bool = False,
    filters: ConversationFilters = ConversationFilters(),
) -> tuple[list[Row], str | None, str | None]:
    """Newest activity first; ``(rows, next_cursor, prev_cursor)``, each
    cursor the row it stands at. ``backwards`` (DevRev's ``mode: before``):
    the page just before ``cursor``. ``owner_keys``: owned by any of them;
    ``unassigned``: nobody owns it (False: somebody does)."""
    plain = (member_keys, statuses, owner_keys, unassigned) == (None,) * 4
    if scope is not None and plain and not backwards and filters == ConversationFilters():
        page, more = await _visitor_page(conn, scope, cursor, limit)
        return _page(page, more, cursor, backwards)
    c = conversations.c
    order = (c.activity_at.asc(), c.id.asc()) if backwards else (c.activity_at.desc(), c.id.desc())
    query = select(conversations).order_by(*order).limit(limit + 1)
    if scope is not None:
        query = query.where(*_visible_to(scope))
    if member_keys is not None:
        query = query.where(
            c.id.in_(
                select(conversation_members.c.conversation_id).where(
                    conversation_members.c.rev_user_id.in_(member_keys)
                )
            )
        )
    if filters.rev_org_keys is not None:
        query = query.where(
            c.id.in_(
                select(conversation_members.c.conversation_id)
                .join(rev_users, rev_users.c.id == conversation_members.c.rev_user_id)
                .where(rev_users.c.rev_org_id.in_(filters.rev_org_keys))
            )
        )
    if filters.tags is not None:
        text = cast(c.tags, String)
        query = query.where(
            or_(false(), *(text.contains(json.dumps(t), autoescape=True) for t in filters.tags))
        )
    if filters.modified_after is not None:
        query = query.where(c.modified_at >= filters.modified_after)
    if filters.modified_before is not None:
        query = query.where(c.modified_at <= filters.modified_before)
    if statuses is not None:
        query = query.where(c.status.in_(statuses))
    if owner_keys is not None:
        query = query.where(assignment.owned_by_any(owner_keys))
    if unassigned is not None:
        query = query.where(~assignment.has_owner() if unassigned else assignment.has_owner())
    if cursor is not None:
        at, key = decode_activity_cursor(cursor)
        if backwards:
            query = query.where(or_(c.activity_at > at, and_(c.activity_at == at, c.id > key)))
        else:
            query = query.where(or_(c.activity_at < at, and_(c.activity_at == at, c.id < key)))
    rows: list[Row] = [r._mapping for r in (await conn.execute(query)).all()]
    more = len(rows) > limit
    return _page(rows[:limit], more, cursor, backwards)


def _page(
    rows: list[Row], more: bool, cursor: str | None, backwards: bool
) -> tuple[list[Row], str | None, str | None]:
    """``list_conversations``' answer from a page read in its order."""
    if backwards:
        rows.reverse()
    if not rows:
        return [], None, None
    has_next, has_prev = (cursor is not None, more) if backwards else (more, cursor is not None)

    def cursor_at(row: Row) -> str:
        return encode_activity_cursor(row["activity_at"], int(row["id"]))

    return (
        rows,
        cursor_at(rows[-1]) if has_next else None,
        cursor_at(rows[0]) if has_prev else None,
    )


# Built once (the conversations are a parameter): building a statement on
# every call cost more than running it on the widget's conversations.list.
_MEMBERS = (
    select(conversation_members)
    .where(conversation_members.c.conversation_id.in_(bindparam("keys", expanding=True)))
    .order_by(conversation_members.c.created_at, conversation_members.c.rev_user_id)
)


@functools.cache
def _visitor_page_query(with_cursor: bool) -> Select[Any]:
    """The widget's page of ``list_conversations`` (a visitor's scope, newest
    first), built once: building it cost more than running it."""
    c = conversations.c
    query = (
        select(conversations)
        .where(
            exists().where(
                conversation_members.c.conversation_id == c.id,
                conversation_members.c.rev_user_id == bindparam("rev_user_key"),
            ),
            or_(c.app_pk == bindparam("app_pk"), c.app_pk.is_(None)),
        )
        .order_by(c.activity_at.desc(), c.id.desc())
        .limit(bindparam("limit"))
    )
    if with_cursor:
        at, key = bindparam("at", type_=c.activity_at.type), bindparam("key", type_=c.id.type)
        query = query.where(or_(c.activity_at < at, and_(c.activity_at == at, c.id < key)))
    return query


async def _visitor_page(
    conn: AsyncConnection, scope: VisitorScope, cursor: str | None, limit: int
) -> tuple[list[Row], bool]:
    """What ``list_conversations`` reads for ``scope`` alone (``_visible_to``)."""
    params: dict[str, Any] = {
        "rev_user_key": scope.rev_user_key, "app_pk": scope.app_pk, "limit": limit + 1
    }  # fmt: skip
    if cursor is not None:
        params["at"], params["key"] = decode_activity_cursor(cursor)
    query = _visitor_page_query(cursor is not None)
    rows: list[Row] = [r._mapping for r in (await conn.execute(query, params)).all()]
    return rows[:limit], len(rows) > limit


async def members_of(conn: AsyncConnection, keys: Sequence[int]) -> dict[int, list[Row]]:
    found: dict[int, list[Row]] = {k: [] for k in keys}
    if not keys:
        return found
    rows = await conn.execute(_MEMBERS, {"keys": list(keys)})
    for r in rows:
        found[int(r.conversation_id)].append(r._mapping)
    return found


async def recent_messages(
    conn: AsyncConnection, rows: Sequence[Row], reader: Reader, count: int = RECENT_MESSAGES
) -> dict[int, list[Row]]:
    """The newest ``count`` messages of each conversation that ``reader``
    may see, oldest first, in one query (seqs have gaps: deleted entries,
    and entries this reader may not see)."""
    found: dict[int, list[Row]] = {int(r["id"]): [] for r in rows}
    if not rows or count <= 0:
        return found
    query = _recent_messages_query(reader)
    for r in await conn.execute(query, {"keys": list(found), "count": count}):
        found[int(r.conversation_id)].append(r._mapping)
    return found


@functools.lru_cache(maxsize=256)
def _recent_messages_query(reader: Reader) -> Select[Any]:
    """Built once per reader: the subquery's columns cost more to build on
    every call (the widget's conversations.list) than the query to run;
    the conversations and the count are parameters."""
    ranked = (
        select(
            messages,
            func.row_number()
            .over(partition_by=messages.c.conversation_id, order_by=messages.c.seq.desc())
            .label("rank"),
        )
        .where(
            messages.c.conversation_id.in_(bindparam("keys", expanding=True)),
            seen.readable_by(reader),
        )
        .subquery()
    )
    return (
        select(*(ranked.c[c.name] for c in messages.columns))
        .where(ranked.c.rank <= bindparam("count"))
        .order_by(ranked.c.conversation_id, ranked.c.seq)
    )


async def unread_counts(
    conn: AsyncConnection, read_seqs: Mapping[int, int], reader: Reader, *, author: Author
) -> dict[int, int]:
    """Per conversation (key -> the reader's last read seq): the entries
    after it that ``reader`` may see and ``author`` did not write. Counted,
    not subtracted from ``last_seq``: a deleted entry no longer counts and
    an entry the reader may not see never did."""
    if not read_seqs:
        return {}
    c = messages.c
    mine = {"rev_user": c.author_rev_user_id, "dev_user": c.author_dev_user_id}.get(author.kind)
    after = or_(*(and_(c.conversation_id == k, c.seq > s) for k, s in read_seqs.items()))
    query = (
        select(c.conversation_id, func.count())
        .where(after, seen.readable_by(reader))
        .group_by(c.conversation_id)
    )
    if mine is not None:
        query = query.where(or_(mine.is_(None), mine != author.key))
    found = {int(k): int(n) for k, n in (await conn.execute(query)).all()}
    return {k: found.get(k, 0) for k in read_seqs}


async def messages_after(
    conn: AsyncConnection,
    key: int,
    after_seq: int,
    limit: int,
    *,
    reader: Reader,
    visibilities: Sequence[str] | None = None,
) -> tuple[list[Row], bool]:
    """Messages ``reader`` may see with seq > ``after_seq`` (optionally only
    these ``visibilities``), oldest first, and whether more follow."""
    query = (
        select(messages)
        .where(
            messages.c.conversation_id == key,
            messages.c.seq > after_seq,
            seen.readable_by(reader),
        )
        .order_by(messages.c.seq)
        .limit(limit + 1)
    )
    if visibilities is not None:
        query = query.where(messages.c.visibility.in_(visibilities))
    rows: list[Row] = [r._mapping for r in (await conn.execute(query)).all()]
    return rows[:limit], len(rows) > limit


@dataclass(frozen=True)
class StreamChanges:
    """What changed after a seq besides new entries: the entries edited
    since (their current rows, ``edited_seq`` above it) and those deleted
    since (``deleted_entries`` rows)."""

    edited: list[Row]
    deleted: list[Row]


async def changes_after(
    conn: AsyncConnection,
    key: int,
    after_seq: int,
    *,
    reader: Reader,
    visibilities: Sequence[str] | None = None,
) -> StreamChanges:
    m, d = messages.c, deleted_entries.c
    edited = select(messages).where(
        m.conversation_id == key, m.edited_seq > after_seq, seen.readable_by(reader)
    )
    deleted = select(deleted_entries).where(
        d.conversation_id == key, d.seq > after_seq, seen.readable_by(reader, deleted_entries)
    )
    if visibilities is not None:
        edited = edited.where(m.visibility.in_(visibilities))
        deleted = deleted.where(d.visibility.in_(visibilities))
    return StreamChanges(
        [r._mapping for r in await conn.execute(edited.order_by(m.edited_seq))],
        [r._mapping for r in await conn.execute(deleted.order_by(d.seq))],
    )


async def messages_before(
    conn: AsyncConnection,
    key: int,
    before_seq: int | None,
    limit: int,
    *,
    reader: Reader,
    visibilities: Sequence[str] | None = None,
) -> tuple[list[Row], int | None]:
    """Newest first (a timeline) of what ``reader`` may see, optionally only
    these ``visibilities``; returns the seq to continue below, if any."""
    query = (
        select(messages)
        .where(messages.c.conversation_id == key, seen.readable_by(reader))
        .order_by(messages.c.seq.desc())
        .limit(limit + 1)
    )
    if visibilities is not None:
        query = query.where(messages.c.visibility.in_(visibilities))
    if before_seq is not None:
        query = query.where(messages.c.seq < before_seq)
    rows: list[Row] = [r._mapping for r in (await conn.execute(query)).all()]
    if len(rows) > limit:
        return rows[:limit], int(rows[limit - 1]["seq"])
    return rows, None


async def agent_read_seqs(
    conn: AsyncConnection, dev_user_key: int, keys: Sequence[int]
) -> dict[int, int]:
    if not keys:
        return {}
    rows = await conn.execute(
        select(agent_reads.c.conversation_id, agent_reads.c.last_read_seq).where(
            agent_reads.c.dev_user_id == dev_user_key, agent_reads.c.conversation_id.in_(keys)
        )
    )
    return {int(r.conversation_id): int(r.last_read_seq) for r in rows}


async def resolve_rev_users(
    conn: AsyncConnection, ids: Sequence[str], field_name: str
) -> list[int]:
    """Rev user ids (DON or display id) to keys, each checked to exist."""
    keys = [parse_int_key(v, REV_USER, f"{field_name}[{i}]") for i, v in enumerate(ids)]
    found = set(
        (await conn.execute(select(rev_users.c.id).where(rev_users.c.id.in_(keys)))).scalars()
    )
    for i, key in enumerate(keys):
        if key not in found:
            raise InvalidId(f"{field_name}[{i}]", f"no rev user has id {ids[i]}")
    return list(dict.fromkeys(keys))


# --- writing ----------------------------------------------------------------------


async def create_conversation(
    runtime: Runtime,
    *,
    member_keys: Sequence[int],
    bodies: Sequence[str],
    author: Author | None,
    title: str | None = None,
    status: Status = "open",
    app_pk: int | None = None,
    owner_ids: Sequence[str] = (),
    artifacts: Sequence[Sequence[int]] = (),
    artifacts_field: str = "messages[{i}].artifacts",
    description: str | None = None,
    tags: Sequence[Mapping[str, Any]] = (),
    custom_fields: Mapping[str, Any] | None = None,
    also_write: Callable[[AsyncConnection, int], Awaitable[None]] | None = None,
    automated_body: str | None = None,
) -> int:
    """A new conversation with its members, owners (dev user ids, checked
    in the same transaction: a 400 names ``owned_by[i]``) and first
    messages (by ``author``); ``artifacts[i]``: the artifact keys of
    message ``i`` (a 400 names ``artifacts_field`` with ``i`` filled in).
    ``automated_body``: the team's automated message (the away message of
    app ``app_pk``), after the first messages. ``also_write`` runs last in
    the same transaction, given the new key (the answer is built there:
    see ``post_message``)."""
    now = utcnow()
    if title is None:
        title = title_from_body(bodies[0]) if bodies else DEFAULT_TITLE
    changes: list[ConversationChange] = []
    async with runtime.db.write() as conn:
        owners = await assignment.resolve_dev_users(conn, owner_ids, "owned_by")
        key = (
            await conn.execute(
                insert(conversations)
                .values(
                    title=title,
                    status=status,
                    app_pk=app_pk,
                    description=description,
                    tags=unique_tags(tags),
                    custom_fields=dict(custom_fields or {}),
                    last_seq=0,
                    last_message_at=None,
                    activity_at=now,
                    created_at=now,
                    modified_at=now,
                )
                .returning(conversations.c.id)
            )
        ).scalar_one()
        if member_keys:
            await conn.execute(
                insert(conversation_members),
                [
                    {
                        "conversation_id": key,
                        "rev_user_id": m,
                        "last_read_seq": 0,
                        "created_at": now,
                    }
                    for m in member_keys
                ],
            )
        await assignment.replace_owners(conn, key, owners)
        members = tuple(member_keys)
        changes.append(
            _change("conversation.created", key, members, app_pk, status, author,
                    owner_keys=tuple(owners))
        )  # fmt: skip
        for i, body in enumerate(bodies):
            if author is None:
                raise ValueError("first messages need an author")  # a caller's bug, not input
            posted = await _append_message(conn, key, author, body, now)
            if i < len(artifacts) and artifacts[i]:
                await attach_artifacts(
                    conn, artifacts[i], by=_attaching(author, app_pk),
                    message_key=posted.message_key, conversation_key=key, now=now,
                    field_name=artifacts_field.format(i=i),
                )  # fmt: skip
            changes.append(
                _change("message.created", key, members, app_pk, status, author,
                        seq=posted.seq, message_key=posted.message_key)
            )  # fmt: skip
        if automated_body is not None and app_pk is not None:
            team = Author("sys_user", app_pk)
            posted = await _append_message(conn, key, team, automated_body, now)
            changes.append(
                _change("message.created", key, members, app_pk, status, team,
                        seq=posted.seq, message_key=posted.message_key)
            )  # fmt: skip
        if also_write is not None:
            await also_write(conn, int(key))
        await run_transaction_hooks(runtime.transaction_hooks, conn, changes)
    publish_changes(runtime.change_listeners, changes)
    return int(key)


async def post_message(
    runtime: Runtime,
    key: int,
    author: Author,
    body: str,
    *,
    scope: VisitorScope | None = None,
    also_write: Callable[[AsyncConnection, PostedMessage], Awaitable[None]] | None = None,
    artifact_keys: Sequence[int] = (),
    attach_as: Attaching | None = None,
    visibility: Visibility = "external",
) -> PostedMessage:
    """Append a message, with the artifacts ``artifact_keys`` attached (the
    author's own, unless ``attach_as`` says whose; see ``artifacts.attach``).
    ``visibility``: who may read it (see ``visibility``); a visitor's is
    always external.
    With ``scope`` (a visitor posting), the visibility
    check runs inside the write transaction, so it holds for the insert.
    ``also_write`` writes more in the same transaction (a reply by mail
    records its Message-ID; a call's answer is built from the transaction
    that committed it, never read back after the commit, which could fail
    and answer 500 for a message that exists); if it raises, the message
    is rolled back and nothing is announced."""
    now = utcnow()
    async with runtime.db.write() as conn:
        row = (
            await visible_conversation(conn, key, scope)
            if scope is not None
            else await get_conversation(conn, key)
        )
        if author.kind == "rev_user" and visibility != "external":
            raise ValueError("a visitor's message is external")  # checked at the door
        posted = await _append_message(conn, key, author, body, now, visibility)
        if artifact_keys:
            by = attach_as or _attaching(author, None if scope is None else scope.app_pk)
            await attach_artifacts(
                conn, artifact_keys, by=by, message_key=posted.message_key,
                conversation_key=key, now=now,
            )  # fmt: skip
        if also_write is not None:
            await also_write(conn, posted)
        status = "open" if author.kind == "rev_user" else str(row["status"])
        members = await _member_keys(conn, key)
        change = _change("message.created", key, members, row["app_pk"], status, author,
                         seq=posted.seq, message_key=posted.message_key,
                         visibility=visibility)  # fmt: skip
        await run_transaction_hooks(runtime.transaction_hooks, conn, [change])
    publish_changes(runtime.change_listeners, [change])
    return posted


def _attaching(author: Author, app_pk: int | None) -> Attaching:
    if author.kind == "sys_user":
        raise ValueError("a team's automated message carries no files")
    return Attaching(author.kind, author.key, app_pk)


async def _append_message(
    conn: AsyncConnection,
    key: int,
    author: Author,
    body: str,
    now: datetime,
    visibility: Visibility = "external",
) -> PostedMessage:
    seq = await _next_seq(conn, key, visibility, posted_at=now, reopen=author.kind == "rev_user")
    row = (
        await conn.execute(
            _INSERT_MESSAGE,
            {
                "conversation_id": key,
                "seq": seq,
                "author_rev_user_id": author.key if author.kind == "rev_user" else None,
                "author_dev_user_id": author.key if author.kind == "dev_user" else None,
                "author_app_pk": author.key if author.kind == "sys_user" else None,
                "body": body,
                "created_at": now,
                "visibility": visibility,
            },
        )
    ).one()
    # Writing a message means having read everything up to it (a team has
    # no read state: the agents read for it).
    if author.kind != "sys_user":
        await _advance_read(conn, key, author, seq)
    return PostedMessage(key, int(row.id), seq, row._mapping)


async def _next_seq(
    conn: AsyncConnection,
    key: int,
    visibility: str,
    *,
    posted_at: datetime | None = None,
    reopen: bool = False,
) -> int:
    """The conversation's next seq, for a new entry, an edit or a deletion
    (each a step of the stream a socket resumes); the visitors' position
    moves only for what they may see. ``posted_at``: a new entry, which
    moves the time of the last message and the list's order, unless it is
    a note (the visitors see nothing move). ``reopen`` (with ``posted_at``):
    a visitor writing again reopens a resolved conversation."""
    shown = seen.shown_to_visitors(visibility)
    statement = _next_seq_statement(shown, posted_at is not None and shown, reopen)
    params: dict[str, Any] = {"key": key}
    if posted_at is not None:
        params["now"] = posted_at
    result = await conn.execute(statement, params)
    return int(result.scalar_one())


@functools.cache
def _next_seq_statement(shown: bool, moves_activity: bool, reopens: bool) -> Any:
    c = conversations.c
    now = bindparam("now", type_=c.modified_at.type)
    values: dict[str, Any] = {"last_seq": c.last_seq + 1}
    if shown:
        values["visitor_last_seq"] = c.last_seq + 1
    if moves_activity:
        values.update(last_message_at=now, activity_at=now)
    if reopens:
        values["status"] = "open"
        values["modified_at"] = case((c.status != "open", now), else_=c.modified_at)
    where = c.id == bindparam("key")
    return update(conversations).where(where).values(values).returning(c.last_seq)


async def get_message(conn: AsyncConnection, key: int, *, reader: Reader) -> Row:
    """The entry if ``reader`` may see it; otherwise the same 404 as for one
    that does not exist (another agent's private entry is not theirs to know of)."""
    row = (
        await conn.execute(select(messages).where(messages.c.id == key, seen.readable_by(reader)))
    ).first()
    if row is None:
        raise NotFound("timeline entry not found")
    return row._mapping


async def _own_message(conn: AsyncConnection, key: int, agent: Author) -> Row:
    """The message, locked until the commit, if ``agent`` wrote it. Another
    author's message is a 403: agents see every conversation, so whether
    it exists is no secret from them, but only its author may change it
    (what a visitor or a colleague wrote is theirs)."""
    row = (
        await conn.execute(select(messages).where(messages.c.id == key).with_for_update())
    ).first()
    if row is None:
        raise NotFound("timeline entry not found")
    if agent.kind != "dev_user" or row.author_dev_user_id != agent.key:
        raise Forbidden("only the agent who wrote a timeline entry may change or delete it")
    return row._mapping


async def edit_message(runtime: Runtime, key: int, agent: Author, body: str | None) -> Row:
    """Replace the text of ``agent``'s own message; its seq and place stay
    (an edit is not news: no unread count moves), but the edit takes the
    next seq (``edited_seq``), so a socket that resumes after it is told.
    The row is locked
    before the check, so an edit racing a delete either lands first or
    finds the entry gone (404), never half-applies."""
    async with runtime.db.write() as conn:
        row = await _own_message(conn, key, agent)
        if body is None or body == row["body"]:
            return row
        now = utcnow()
        conv_key = int(row["conversation_id"])
        step = await _next_seq(conn, conv_key, row["visibility"])
        await conn.execute(
            update(messages)
            .where(messages.c.id == key)
            .values(body=body, modified_at=now, edited_seq=step)
        )
        conv = await get_conversation(conn, conv_key)
        members = await _member_keys(conn, conv_key)
        change = _change("message.updated", conv_key, members, conv["app_pk"],
                         str(conv["status"]), agent, message_key=key, seq=step,
                         visibility=row["visibility"])  # fmt: skip
        await run_transaction_hooks(runtime.transaction_hooks, conn, [change])
        edited = await get_message(conn, key, reader=seen.agent(agent.key))
    publish_changes(runtime.change_listeners, [change])
    return edited


async def delete_message(runtime: Runtime, key: int, agent: Author) -> None:
    """Remove ``agent``'s own message with its files: their rows cascade,
    their bytes are scheduled for deletion in the same transaction
    (``artifacts.service.forget_objects``). Its seq is not reused: readers
    resuming after it skip the gap. The deletion takes the next seq and is
    recorded (``deleted_entries``), so a socket that resumes after it is told."""
    from openplug.artifacts.service import forget_objects  # artifacts imports this module

    async with runtime.db.write() as conn:
        row = await _own_message(conn, key, agent)
        conv = await get_conversation(conn, int(row["conversation_id"]))
        files = await conn.execute(select(artifact_rows).where(artifact_rows.c.message_id == key))
        await forget_objects(conn, [r._mapping for r in files])
        await conn.execute(delete(messages).where(messages.c.id == key))
        conv_key = int(conv["id"])
        step = await _next_seq(conn, conv_key, row["visibility"])
        await conn.execute(
            insert(deleted_entries).values(
                conversation_id=conv_key, seq=step, message_id=key,
                visibility=row["visibility"], author_dev_user_id=row["author_dev_user_id"],
                deleted_at=utcnow(),
            )
        )  # fmt: skip
        members = await _member_keys(conn, conv_key)
        change = _change("message.deleted", conv_key, members, conv["app_pk"],
                         str(conv["status"]), agent, message_key=key, seq=step,
                         visibility=row["visibility"])  # fmt: skip
        await run_transaction_hooks(runtime.transaction_hooks, conn, [change])
    publish_changes(runtime.change_listeners, [change])


async def delete_conversation(runtime: Runtime, key: int, actor: Author) -> None:
    """Remove a conversation whole: its messages, memberships, read state
    and mail threads cascade; its files' rows cascade and their bytes are
    scheduled for deletion in the same transaction (as an erasure does).
    Its members' widgets are told (``conversation.deleted``) and drop it;
    afterwards it answers as one that never existed."""
    from openplug.artifacts.service import artifacts_of_conversations, forget_objects

    async with runtime.db.write() as conn:
        row = await _locked_conversation(conn, key)
        await forget_objects(conn, await artifacts_of_conversations(conn, [key]))
        members = await _member_keys(conn, key)
        change = _change("conversation.deleted", key, members, row.app_pk, str(row.status), actor)
        # Hooks first: a webhook's row must be written while the
        # conversation still exists for whatever they read.
        await run_transaction_hooks(runtime.transaction_hooks, conn, [change])
        await conn.execute(delete(conversations).where(conversations.c.id == key))
    publish_changes(runtime.change_listeners, [change])


async def _locked_conversation(conn: AsyncConnection, key: int) -> SqlRow[Any]:
    """The conversation's row, locked until the transaction ends (on SQLite
    the write transaction is exclusive anyway)."""
    row = (
        await conn.execute(select(conversations).where(conversations.c.id == key).with_for_update())
    ).first()
    if row is None:
        raise NotFound("conversation not found")
    return row


async def post_automated_message(
    runtime: Runtime, key: int, *, app_pk: int, body: str
) -> PostedMessage | None:
    """Post ``body`` as the team of app ``app_pk``, unless the conversation
    has an automated message already: None then. At most one per
    conversation: checked again under the conversation's row lock (on
    SQLite the write transaction is exclusive anyway), so two visitor
    messages at once cannot both post one.

    The only automated message is the away message (``availability.away``);
    a second kind would need a marker to tell them apart."""
    if await _has_automated_message(runtime, key):
        return None  # the common case, answered without a write
    now = utcnow()
    author = Author("sys_user", app_pk)
    async with runtime.db.write() as conn:
        row = await _locked_conversation(conn, key)
        if await _automated_message_in(conn, key):
            return None
        posted = await _append_message(conn, key, author, body, now)
        members = await _member_keys(conn, key)
        change = _change("message.created", key, members, row.app_pk, str(row.status), author,
                         seq=posted.seq, message_key=posted.message_key)  # fmt: skip
        await run_transaction_hooks(runtime.transaction_hooks, conn, [change])
    publish_changes(runtime.change_listeners, [change])
    return posted


async def _has_automated_message(runtime: Runtime, key: int) -> bool:
    async with runtime.db.read() as conn:
        return await _automated_message_in(conn, key)


async def _automated_message_in(conn: AsyncConnection, key: int) -> bool:
    found = await conn.execute(
        select(messages.c.id)
        .where(messages.c.conversation_id == key, messages.c.author_app_pk.is_not(None))
        .limit(1)
    )
    return found.first() is not None


async def _advance_read(conn: AsyncConnection, key: int, reader: Author, seq: int) -> bool:
    """Move the reader's mark forward to ``seq`` (never back); whether it moved."""
    if reader.kind == "rev_user":
        params = {"key": key, "reader": reader.key, "seq": seq}
        return bool((await conn.execute(_ADVANCE_VISITOR_READ, params)).rowcount)
    a = agent_reads.c
    before = (
        await conn.execute(
            select(a.last_read_seq).where(a.conversation_id == key, a.dev_user_id == reader.key)
        )
    ).scalar()
    if before is not None and before >= seq:
        return False
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stmt = dialect_insert(agent_reads).values(
        conversation_id=key, dev_user_id=reader.key, last_read_seq=seq
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["conversation_id", "dev_user_id"],
            set_={
                "last_read_seq": case(
                    (a.last_read_seq < stmt.excluded.last_read_seq, stmt.excluded.last_read_seq),
                    else_=a.last_read_seq,
                )
            },
        )
    )
    return True


async def mark_read(
    runtime: Runtime,
    key: int,
    reader: Author,
    seq: int | None = None,
    *,
    scope: VisitorScope | None = None,
) -> int:
    """The reader has read up to ``seq`` (default: everything). Returns the
    reader's last read seq, which never moves back."""
    async with runtime.db.write() as conn:
        row = (
            await visible_conversation(conn, key, scope)
            if scope is not None
            else await get_conversation(conn, key)
        )
        # A visitor reads no further than what they may see.
        top = int(row["visitor_last_seq" if reader.kind == "rev_user" else "last_seq"])
        target = min(top if seq is None else seq, top)
        moved = await _advance_read(conn, key, reader, target)
        last_read = await _last_read(conn, key, reader)
        members = await _member_keys(conn, key)
    if moved:
        # Told on the topic the visitors hear: never a seq beyond theirs
        # (an agent's read may stand on a note).
        told = min(last_read, int(row["visitor_last_seq"]))
        publish_changes(
            runtime.change_listeners,
            [_change("conversation.read", key, members, row["app_pk"], str(row["status"]),
                     reader, read_seq=told)],
        )  # fmt: skip
    return last_read


async def _last_read(conn: AsyncConnection, key: int, reader: Author) -> int:
    if reader.kind == "rev_user":
        m = conversation_members.c
        query = select(m.last_read_seq).where(m.conversation_id == key, m.rev_user_id == reader.key)
    else:
        a = agent_reads.c
        query = select(a.last_read_seq).where(a.conversation_id == key, a.dev_user_id == reader.key)
    return int((await conn.execute(query)).scalar() or 0)


async def update_conversation(
    runtime: Runtime,
    key: int,
    *,
    actor: Author,
    title: str | None = None,
    status: Status | None = None,
    owner_ids: Sequence[str] | None = None,
    member_ids: Sequence[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Change title, status, owners (``owner_ids`` replaces them; an empty
    list unassigns), members (``member_ids`` replaces them) and DevRev's
    ``description``, ``tags`` and ``custom_fields`` (``extra``, computed by
    ``updated_extras``); no write when nothing changes. An assignment alone
    is announced to agents only."""
    async with runtime.db.write() as conn:
        row = await get_conversation(conn, key)
        values: dict[str, Any] = {}
        if title is not None and title != row["title"]:
            values["title"] = title
        if status is not None and status != row["status"]:
            values["status"] = status
        for column, value in (extra or {}).items():
            if value != row[column]:
                values[column] = value
        reassigned = False
        if owner_ids is not None:
            owners = await assignment.resolve_dev_users(conn, owner_ids, "owned_by.set")
            reassigned = await assignment.replace_owners(conn, key, owners)
        left: tuple[int, ...] = ()
        regrouped = False
        if member_ids is not None:
            left, regrouped = await _replace_members(conn, key, member_ids)
        if not values and not reassigned and not regrouped:
            return
        await conn.execute(
            update(conversations)
            .where(conversations.c.id == key)
            .values(**values, modified_at=utcnow())
        )
        members = await _member_keys(conn, key)
        owner_keys = tuple(await assignment.owners_of(conn, key))
        status_now = str(values.get("status", row["status"]))
        changes = [_change("conversation.updated", key, members, row["app_pk"], status_now, actor,
                           owner_keys=owner_keys, agents_only=not values)]  # fmt: skip
        if regrouped:
            # Those who left are told too, so their views let go of it.
            changes.append(_change("conversation.members_changed", key, (*members, *left),
                                   row["app_pk"], status_now, actor))  # fmt: skip
        await run_transaction_hooks(runtime.transaction_hooks, conn, changes)
    publish_changes(runtime.change_listeners, changes)


async def _replace_members(
    conn: AsyncConnection, key: int, ids: Sequence[str]
) -> tuple[tuple[int, ...], bool]:
    """Make exactly these rev users the members (a member who stays keeps
    their read state); the keys of those who left, and whether anything
    changed."""
    wanted = await resolve_rev_users(conn, ids, "members.set")
    current = set(await _member_keys(conn, key))
    left = tuple(sorted(current - set(wanted)))
    m = conversation_members.c
    if left:
        await conn.execute(
            delete(conversation_members).where(m.conversation_id == key, m.rev_user_id.in_(left))
        )
    joined = [k for k in dict.fromkeys(wanted) if k not in current]
    if joined:
        now = utcnow()
        await conn.execute(
            insert(conversation_members),
            [{"conversation_id": key, "rev_user_id": k, "last_read_seq": 0, "created_at": now}
             for k in joined],
        )  # fmt: skip
    return left, bool(left or joined)


def unique_tags(tags: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Tags as stored: one per id, the last value given winning."""
    out: dict[str, dict[str, Any]] = {}
    for t in tags:
        value = {"value": t["value"]} if t.get("value") else {}
        out[str(t["id"])] = {"id": str(t["id"]), **value}
    return list(out.values())


def updated_tags(
    stored: Sequence[Mapping[str, Any]],
    *,
    set_: Sequence[Mapping[str, Any]] | None,
    add: Sequence[Mapping[str, Any]] | None,
    remove: Sequence[Mapping[str, Any]] | None,
) -> list[dict[str, Any]]:
    """DevRev's tag update: ``set`` replaces, then ``remove``, then ``add``."""
    tags = unique_tags(set_ if set_ is not None else stored)
    gone = {str(t["id"]) for t in remove or ()}
    return unique_tags([*(t for t in tags if t["id"] not in gone), *(add or ())])


async def move_member_conversations(
    conn: AsyncConnection, from_key: int, to_key: int
) -> list[ConversationChange]:
    """Hand every conversation of rev user ``from_key`` to ``to_key``, with
    the messages ``from_key`` wrote, inside the caller's transaction. The
    caller publishes the returned changes after its commit."""
    # Files they uploaded and have not sent yet go with them, so the
    # identified user can still send them (artifacts.attach).
    await conn.execute(
        update(artifact_rows)
        .where(artifact_rows.c.uploader_rev_user_id == from_key)
        .values(uploader_rev_user_id=to_key)
    )
    m = conversation_members.c
    keys = list(
        (await conn.execute(select(m.conversation_id).where(m.rev_user_id == from_key))).scalars()
    )
    if not keys:
        return []
    # Where both are members already, the target's membership stays.
    await conn.execute(
        delete(conversation_members).where(
            m.rev_user_id == from_key,
            m.conversation_id.in_(
                select(m.conversation_id).where(m.rev_user_id == to_key).scalar_subquery()
            ),
        )
    )
    await conn.execute(
        update(conversation_members).where(m.rev_user_id == from_key).values(rev_user_id=to_key)
    )
    await conn.execute(
        update(messages)
        .where(messages.c.author_rev_user_id == from_key, messages.c.conversation_id.in_(keys))
        .values(author_rev_user_id=to_key)
    )
    rows = (await conn.execute(select(conversations).where(conversations.c.id.in_(keys)))).all()
    changes = []
    for r in rows:
        members = await _member_keys(conn, int(r.id))
        changes.append(
            _change("conversation.members_changed", int(r.id), (*members, from_key), r.app_pk,
                    str(r.status), Author("rev_user", to_key))
        )  # fmt: skip
    return changes


async def _member_keys(conn: AsyncConnection, key: int) -> tuple[int, ...]:
    rows = await conn.execute(_MEMBER_KEYS, {"key": key})
    return tuple(int(k) for k in rows.scalars())


def _change(
    kind: ChangeKind,
    key: int,
    members: tuple[int, ...],
    app_pk: int | None,
    status: str,
    actor: Author | None,
    *,
    seq: int | None = None,
    read_seq: int | None = None,
    message_key: int | None = None,
    owner_keys: tuple[int, ...] = (),
    agents_only: bool = False,
    visibility: str = "external",
) -> ConversationChange:
    return ConversationChange(
        kind=kind,
        conversation_key=int(key),
        member_keys=members,
        app_pk=app_pk,
        status=status,
        seq=seq,
        read_seq=read_seq,
        message_key=message_key,
        actor_kind=None if actor is None else actor.kind,
        actor_key=None if actor is None else actor.key,
        owner_keys=owner_keys,
        agents_only=agents_only,
        visibility=visibility,
    )
