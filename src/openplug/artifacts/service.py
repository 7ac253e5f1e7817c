"""The rules of files in conversations: who may upload, read and attach
which artifact, what an upload must be, and where links point.

The flow is DevRev's: ``artifacts.prepare`` makes the row and a signed
upload URL; the client POSTs multipart/form-data there (every
``form_data`` field, then ``file``); the file is spooled to disk while it
is counted, its type is read from its bytes, images get re-encoded
copies, and only then does the row say ``uploaded``. A message names
uploaded artifacts in ``artifacts`` (``attach``); from then on whoever may
read the conversation may read the file, and before that only its
uploader.

Every "you may not" is the same 404 as "there is none": whether an
artifact exists is not theirs to know.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from python_multipart.multipart import Field, File, FormParser, parse_options_header
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.artifacts import images
from openplug.artifacts.links import ArtifactLink, Variant, sign_link, verify_link
from openplug.artifacts.sniff import SNIFF_BYTES, detect_type
from openplug.artifacts.storage import CHUNK_BYTES, ObjectMissing, Storage
from openplug.artifacts.tables import artifacts
from openplug.conversations import visibility as seen
from openplug.conversations.service import VisitorScope, visible_conversation
from openplug.conversations.tables import conversation_members, messages
from openplug.crm.tables import rev_users
from openplug.db.base import rfc3339, utcnow
from openplug.errors import (
    ApiError,
    BadRequest,
    Conflict,
    FileTooLarge,
    Forbidden,
    InvalidField,
    NotFound,
    TooManyRequests,
    UploadQuotaExceeded,
    ValueNotPermitted,
)
from openplug.ids import ARTIFACT, display_id, don, parse_int_key
from openplug.outbox import enqueue
from openplug.runtime import Runtime

log = logging.getLogger("openplug.artifacts")
Row = Mapping[Any, Any]
Json = dict[str, Any]

UPLOAD_LINK_SECONDS = 15 * 60
MAX_UNATTACHED = 100
MAX_FILE_NAME_CHARS = 255
# How much of an upload waits in memory before a thread writes it out, and
# the pieces a download is sent in: a quarter of a storage chunk, so that
# with the chunk in hand and a piece in the socket's buffer the server
# holds well under two chunks per transfer (bench/artifacts.py).
HANDOVER_BYTES = CHUNK_BYTES // 4
# Room for the form's other fields and the multipart framing.
FORM_OVERHEAD_BYTES = 64 * 1024
DELETE_OBJECTS = "artifacts.delete_objects"
SWEEP_BATCH = 500
# The types a browser might render as a page or run: never inline, and
# even as downloads only with the safety headers (see routes).
NEVER_INLINE = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml"})


@dataclass(frozen=True)
class Party:
    """Who uploads or reads: an agent (may read every conversation) or a
    visitor of one app's widget (the conversation rules' ``VisitorScope``)."""

    kind: Literal["dev_user", "rev_user"]
    key: int
    app_pk: int | None = None

    @property
    def scope(self) -> VisitorScope:
        if self.app_pk is None:
            raise Forbidden("only a visitor of an app has a visitor scope")
        return VisitorScope(self.key, self.app_pk)


def artifact_key(value: str, field_name: str = "id") -> int:
    return parse_int_key(value, ARTIFACT, field_name)


def artifact_id(org_id: str, key: int) -> str:
    return don(org_id, ARTIFACT, key)


def clean_file_name(name: str, field_name: str = "file_name") -> str:
    """The last path segment (browsers send ``C:\\fakepath\\x.png``), with
    no control characters; a name is shown, never used as a path."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    if not base or base in (".", ".."):
        raise InvalidField(field_name, "not a usable file name")
    return base[:MAX_FILE_NAME_CHARS]


# --- prepare ----------------------------------------------------------------------


async def prepare(
    runtime: Runtime,
    party: Party,
    *,
    file_name: str,
    file_type: str | None,
    file_size: int | None,
) -> Json:
    """DevRev's ``artifacts.prepare``: the row, and where to POST the file."""
    settings = runtime.settings
    name = clean_file_name(file_name)
    limit = settings.max_upload_bytes
    if file_size is not None and file_size > limit:
        raise FileTooLarge("file_size", limit, "OPENPLUG_MAX_UPLOAD_BYTES")
    async with runtime.db.write() as conn:
        if party.kind == "rev_user":
            await _check_unattached(conn, party.key)
            if file_size is not None:
                await _check_daily_quota(conn, runtime, party.key, file_size, "file_size")
        key = (
            await conn.execute(
                insert(artifacts)
                .values(
                    state="prepared",
                    file_name=name,
                    declared_type=(file_type or None) and file_type[:255],
                    has_inline=False,
                    has_thumbnail=False,
                    uploader_rev_user_id=party.key if party.kind == "rev_user" else None,
                    uploader_dev_user_id=party.key if party.kind == "dev_user" else None,
                    app_pk=party.app_pk,
                    created_at=utcnow(),
                )
                .returning(artifacts.c.id)
            )
        ).scalar_one()
    token = sign_link(
        runtime.secrets.token_pepper,
        ArtifactLink("upload", int(key), "original", int(time.time()) + UPLOAD_LINK_SECONDS),
    )
    return {
        "id": artifact_id(runtime.org_id, int(key)),
        "url": f"{runtime.settings.resolved_public_url()}/artifacts/upload/{token}",
        # DevRev's POST-policy fields; ours names the artifact (checked).
        "form_data": [{"key": "artifact_id", "value": artifact_id(runtime.org_id, int(key))}],
    }


async def _check_unattached(conn: AsyncConnection, rev_user_key: int) -> None:
    """A visitor has at most ``MAX_UNATTACHED`` artifacts not yet in a
    message: rows a script could otherwise make without end (each waits a
    day for the orphan sweep)."""
    waiting = (
        await conn.execute(
            select(func.count()).where(
                artifacts.c.uploader_rev_user_id == rev_user_key, artifacts.c.message_id.is_(None)
            )
        )
    ).scalar_one()
    if int(waiting) >= MAX_UNATTACHED:
        raise TooManyRequests(
            f"{MAX_UNATTACHED} files are waiting to be sent already: send or drop some first",
            retry_after=3600,
        )


async def _check_daily_quota(
    conn: AsyncConnection, runtime: Runtime, rev_user_key: int, adding: int, field_name: str
) -> None:
    limit = runtime.settings.upload_bytes_per_visitor_per_day
    if not limit:
        return
    since = utcnow() - timedelta(days=1)
    used, oldest = (
        await conn.execute(
            select(
                func.coalesce(func.sum(artifacts.c.size), 0), func.min(artifacts.c.uploaded_at)
            ).where(
                artifacts.c.uploader_rev_user_id == rev_user_key,
                artifacts.c.uploaded_at > since,
            )
        )
    ).one()
    if int(used) + adding > limit:
        retry = 3600 if oldest is None else int((oldest - since).total_seconds()) + 1
        raise UploadQuotaExceeded(
            field_name, limit, "OPENPLUG_UPLOAD_BYTES_PER_VISITOR_PER_DAY", max(retry, 1)
        )


# --- upload -----------------------------------------------------------------------


@dataclass
class _Spooled:
    fields: dict[str, str]
    file: Path | None
    file_name: str | None
    size: int


async def receive_upload(
    runtime: Runtime, token: str, content_type: str, body: AsyncIterator[bytes]
) -> Row:
    """The POST to an upload URL. Nothing is stored unless every check
    passes; the row turns ``uploaded`` only once the bytes are stored."""
    link = verify_link(runtime.secrets.token_pepper, token, utcnow())
    if link is None or link.purpose != "upload":
        raise NotFound("no such upload URL, or it has expired")
    async with runtime.db.read() as conn:
        row = await _row(conn, link.artifact_key)
    if row is None:
        raise NotFound("no such upload URL, or it has expired")
    if row["state"] != "prepared":
        raise Conflict("this artifact has its file already; prepare another")
    workdir = runtime.settings.data_dir / "uploads" / secrets.token_hex(16)
    await asyncio.to_thread(workdir.mkdir, parents=True, mode=0o700)
    try:
        spooled = await _spool(runtime, content_type, body, workdir)
        return await _store(runtime, row, spooled, workdir)
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)


async def _spool(
    runtime: Runtime, content_type: str, body: AsyncIterator[bytes], workdir: Path
) -> _Spooled:
    """The multipart body into ``workdir``, counted as it comes: the file
    goes to disk in chunks (never whole in memory), and reading stops at
    the size limit."""
    mime, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if mime != b"multipart/form-data" or not boundary:
        raise BadRequest("the upload must be multipart/form-data", field_name="file")
    limit = runtime.settings.max_upload_bytes
    fields: dict[str, str] = {}
    files: list[File] = []

    def on_field(field: Field) -> None:
        name = (field.field_name or b"").decode("utf-8", "replace")
        fields[name] = (field.value or b"").decode("utf-8", "replace")

    def on_file(file: File) -> None:
        files.append(file)

    parser = FormParser(
        "multipart/form-data", on_field, on_file, boundary=boundary,
        config={"UPLOAD_DIR": str(workdir), "MAX_MEMORY_FILE_SIZE": 0,
                "UPLOAD_DELETE_TMP": False, "MAX_FIELDS": 50,
                "MAX_FIELD_SIZE": FORM_OVERHEAD_BYTES},
    )  # fmt: skip
    received = 0
    pending: list[bytes] = []
    pending_bytes = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > limit + FORM_OVERHEAD_BYTES:
                raise FileTooLarge("file", limit, "OPENPLUG_MAX_UPLOAD_BYTES")
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= HANDOVER_BYTES:
                # Handed over as the pieces that came (never joined: a
                # join would hold a second copy of the megabyte).
                batch, pending, pending_bytes = pending, [], 0
                await asyncio.to_thread(_write_all, parser, batch)
        if pending:
            await asyncio.to_thread(_write_all, parser, pending)
        await asyncio.to_thread(parser.finalize)
    except (ValueError, LookupError) as e:  # python-multipart's parse errors
        raise BadRequest("not a multipart/form-data body", field_name="file") from e
    finally:
        for f in files:
            f.close()
    upload = next((f for f in files if f.field_name == b"file"), None)
    if upload is None:
        raise InvalidField("file", "the form has no file field named file")
    if upload.size > limit:
        raise FileTooLarge("file", limit, "OPENPLUG_MAX_UPLOAD_BYTES")
    path = Path(upload.actual_file_name.decode()) if upload.actual_file_name else None
    name = upload.file_name.decode("utf-8", "replace") if upload.file_name else None
    return _Spooled(fields, path, name, int(upload.size))


async def store_mail_file(
    runtime: Runtime, name: str, data: bytes, conversation_key: int
) -> int | None:
    """A file that came in a reply by mail, as an uploaded artifact of
    nobody's (the message it is attached to says who sent it), under the
    same size and type rules as an upload; None, logged, when refused."""
    try:
        file_name = clean_file_name(name)
    except InvalidField:
        file_name = "attachment"
    async with runtime.db.write() as conn:
        key = (
            await conn.execute(
                insert(artifacts)
                .values(state="prepared", file_name=file_name, has_inline=False,
                        has_thumbnail=False, created_at=utcnow())
                .returning(artifacts.c.id)
            )
        ).scalar_one()  # fmt: skip
        row = await _row(conn, int(key))
    if row is None:
        raise RuntimeError(f"artifact {key} vanished in the transaction that made it")
    workdir = runtime.settings.data_dir / "uploads" / secrets.token_hex(16)
    try:
        await asyncio.to_thread(workdir.mkdir, parents=True, mode=0o700)
        path = workdir / "mail-file"
        await asyncio.to_thread(path.write_bytes, data)
        limit = runtime.settings.max_upload_bytes
        if len(data) > limit:
            raise FileTooLarge("file", limit, "OPENPLUG_MAX_UPLOAD_BYTES")
        await _store(runtime, row, _Spooled({}, path, file_name, len(data)), workdir)
    except ApiError as refused:
        log.warning(
            "file in a reply by mail dropped (conversation %d): %s", conversation_key,
            refused.message,
        )  # fmt: skip
        async with runtime.db.write() as conn:
            await conn.execute(artifacts.delete().where(artifacts.c.id == int(key)))
        return None
    finally:
        await asyncio.to_thread(shutil.rmtree, workdir, True)
    return int(key)


def _write_all(parser: FormParser, chunks: list[bytes]) -> None:
    for chunk in chunks:
        parser.write(chunk)


def _read_head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SNIFF_BYTES)


async def _store(runtime: Runtime, row: Row, spooled: _Spooled, workdir: Path) -> Row:
    settings = runtime.settings
    key = int(row["id"])
    expected = spooled.fields.get("artifact_id")
    if expected is not None and expected not in (
        artifact_id(runtime.org_id, key),
        display_id(ARTIFACT, key),
    ):
        raise InvalidField("artifact_id", "not the artifact this upload URL is for")
    if spooled.file is None or spooled.size == 0:
        raise InvalidField("file", "the file is empty")
    head = await asyncio.to_thread(_read_head, spooled.file)
    detected = detect_type(head, str(row["file_name"]))
    allowed = settings.allowed_upload_type_set()
    if detected not in allowed:
        raise ValueNotPermitted(
            "file",
            f"its content is {detected}, which is not allowed here (OPENPLUG_ALLOWED_UPLOAD_TYPES)",
            sorted(allowed),
        )
    copies = None
    if detected in images.INLINE_TYPES:
        copies = await asyncio.to_thread(
            images.make_copies, spooled.file, detected, workdir, settings.max_image_pixels
        )
    storage_key = secrets.token_hex(16)
    storage = storage_of(runtime)
    stored = [f"{storage_key}/original"]
    await storage.put(stored[0], spooled.file)
    if copies is not None and copies.inline is not None and copies.thumbnail is not None:
        stored += [f"{storage_key}/inline", f"{storage_key}/thumb"]
        await storage.put(stored[1], copies.inline)
        await storage.put(stored[2], copies.thumbnail)
    try:
        async with runtime.db.write() as conn:
            uploader = row["uploader_rev_user_id"]
            if uploader is not None:
                # One visitor's uploads one at a time, so two at once
                # cannot both fit under the daily limit.
                await conn.execute(
                    select(rev_users.c.id).where(rev_users.c.id == uploader).with_for_update()
                )
                await _check_daily_quota(conn, runtime, int(uploader), spooled.size, "file")
            done = await conn.execute(
                update(artifacts)
                .where(artifacts.c.id == key, artifacts.c.state == "prepared")
                .values(
                    state="uploaded",
                    storage_key=storage_key,
                    content_type=detected,
                    size=spooled.size,
                    width=None if copies is None else copies.width,
                    height=None if copies is None else copies.height,
                    has_inline=len(stored) == 3,
                    has_thumbnail=len(stored) == 3,
                    uploaded_at=utcnow(),
                )
            )
            if not done.rowcount:
                raise Conflict("this artifact has its file already; prepare another")
            found = await _row(conn, key)
    except BaseException:
        for object_key in stored:
            await storage.delete(object_key)
        raise
    if found is None:
        raise NotFound(f"artifact {key} was deleted while its file arrived")
    return found


# --- reading ----------------------------------------------------------------------


async def _row(conn: AsyncConnection, key: int) -> Row | None:
    found = (await conn.execute(select(artifacts).where(artifacts.c.id == key))).first()
    return None if found is None else found._mapping


async def readable_artifact(conn: AsyncConnection, key: int, party: Party) -> Row:
    """The artifact if ``party`` may read it: anyone who may read its
    conversation once it is attached, only its uploader before. Else 404."""
    row = await _row(conn, key)
    if row is None or not await may_read(conn, row, party):
        raise NotFound("artifact not found")
    return row


async def may_read(conn: AsyncConnection, row: Row, party: Party) -> bool:
    conversation = row["conversation_id"]
    if row["message_id"] is not None:
        # A file sent with a note is as hidden as the note.
        entry = (
            await conn.execute(
                select(messages.c.visibility, messages.c.author_dev_user_id).where(
                    messages.c.id == row["message_id"]
                )
            )
        ).first()
        reader = seen.agent(party.key) if party.kind == "dev_user" else seen.VISITOR
        if entry is None or not seen.may_read(reader, entry.visibility, entry.author_dev_user_id):
            return False
    if conversation is not None:
        if party.kind == "dev_user":
            return True
        try:
            await visible_conversation(conn, int(conversation), party.scope)
        except NotFound:
            return False
        return True
    if party.kind == "dev_user":
        return bool(row["uploader_dev_user_id"] == party.key)
    return bool(row["uploader_rev_user_id"] == party.key and row["app_pk"] == party.app_pk)


def storage_of(runtime: Runtime) -> Storage:
    storage = runtime.storage
    if storage is None:
        raise RuntimeError("the server's storage is not open")
    return storage


@dataclass(frozen=True)
class Located:
    url: str
    expires_at: datetime


class Links:
    """Mints download URLs for one response (see ``links``)."""

    def __init__(self, runtime: Runtime, seconds: int | None = None) -> None:
        self._pepper = runtime.secrets.token_pepper
        self._base = runtime.settings.resolved_public_url()
        self._seconds = seconds or runtime.settings.artifact_url_seconds

    def locate(self, key: int, variant: Variant = "original") -> Located:
        expires = int(time.time()) + self._seconds
        link = ArtifactLink("download", key, variant, expires)
        return Located(self.url_of(link), link.expiry)

    def url_of(self, link: ArtifactLink) -> str:
        return f"{self._base}/artifacts/download/{sign_link(self._pepper, link)}"


def file_json(row: Row) -> Json:
    return {
        "type": row["content_type"] or row["declared_type"] or "application/octet-stream",
        "name": row["file_name"],
        "size": int(row["size"] or 0),
    }


def summary_json(org_id: str, row: Row, links: Links | None) -> Json:
    """DevRev's ``artifact-summary`` with openplug's additions: ``width``
    and ``height`` of images, and short-lived ``url`` (the original, as a
    download) and ``thumbnail_url``/``inline_url`` (re-encoded copies, shown
    inline) so a client needs no ``artifacts.locate`` to show a message."""
    key = int(row["id"])
    out: Json = {
        "id": artifact_id(org_id, key),
        "display_id": display_id(ARTIFACT, key),
        "file": file_json(row),
    }
    if row["width"] is not None:
        out["width"], out["height"] = int(row["width"]), int(row["height"])
    if links is not None and row["state"] == "uploaded":
        located = links.locate(key)
        out["url"] = located.url
        out["url_expires_at"] = rfc3339(located.expires_at)
        if row["has_inline"]:
            out["inline_url"] = links.locate(key, "inline").url
        if row["has_thumbnail"]:
            out["thumbnail_url"] = links.locate(key, "thumb").url
    return out


# Built once: every rendered page of messages asks (conversations.list).
_BY_MESSAGE = (
    select(artifacts)
    .where(artifacts.c.message_id.in_(bindparam("keys", expanding=True)))
    .order_by(artifacts.c.message_id, artifacts.c.id)
)


async def summaries_by_message(
    conn: AsyncConnection, org_id: str, message_keys: Sequence[int], links: Links | None
) -> dict[int, list[Json]]:
    """Each message's artifacts, in the order they were attached; one query."""
    found: dict[int, list[Json]] = {k: [] for k in message_keys}
    if not message_keys:
        return found
    rows = await conn.execute(_BY_MESSAGE, {"keys": list(found)})
    for r in rows:
        found[int(r.message_id)].append(summary_json(org_id, r._mapping, links))
    return found


def get_json(org_id: str, row: Row, created_by: Json | None) -> Json:
    """DevRev's ``artifacts-get-response``. One version: a file never changes."""
    created = rfc3339(row["created_at"])
    modified = rfc3339(row["uploaded_at"] or row["created_at"])
    key = int(row["id"])
    artifact: Json = {
        "id": artifact_id(org_id, key),
        "display_id": display_id(ARTIFACT, key),
        "created_date": created,
        "modified_date": modified,
        "file": file_json(row),
        # openplug's own: where the file is in its life.
        "state": "attached" if row["message_id"] is not None else str(row["state"]),
    }
    if created_by is not None:
        artifact["created_by"] = created_by
    if row["width"] is not None:
        artifact["width"], artifact["height"] = int(row["width"]), int(row["height"])
    return {"artifact": artifact, "version": {"version": "1", "timestamp": modified}}


@dataclass(frozen=True)
class Download:
    row: Row
    variant: Variant
    chunks: AsyncIterator[memoryview]


async def open_download(runtime: Runtime, token: str) -> Download:
    """The file a download link names, if the link is intact, unexpired and
    the file is still there; 404 otherwise, with no bytes."""
    link = verify_link(runtime.secrets.token_pepper, token, utcnow())
    if link is None or link.purpose not in ("download", "mail"):
        raise NotFound("no such download URL, or it has expired")
    async with runtime.db.read() as conn:
        row = await _row(conn, link.artifact_key)
        if row is None or row["state"] != "uploaded" or row["storage_key"] is None:
            raise NotFound("no such download URL, or it has expired")
        if link.purpose == "mail" and not await _recipient_may_read(conn, row, link):
            raise NotFound("no such download URL, or it has expired")
    if link.variant != "original" and not row["has_inline"]:
        raise NotFound("no such download URL, or it has expired")
    chunks = storage_of(runtime).chunks(f"{row['storage_key']}/{link.variant}")
    try:
        first = await anext(chunks)
    except (ObjectMissing, StopAsyncIteration):
        raise NotFound("no such download URL, or it has expired") from None
    return Download(row, link.variant, _in_pieces(first, chunks))


async def _in_pieces(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[memoryview]:
    """The chunks, each sent as ``HANDOVER_BYTES`` views of itself (no copies)."""
    chunk: bytes | None = first
    while chunk is not None:
        view = memoryview(chunk)
        for start in range(0, len(view), HANDOVER_BYTES):
            yield view[start : start + HANDOVER_BYTES]
        chunk = await anext(rest, None)


async def _recipient_may_read(conn: AsyncConnection, row: Row, link: ArtifactLink) -> bool:
    """A mail link works while its recipient is still in the conversation."""
    if row["conversation_id"] is None:
        return False
    m = conversation_members.c
    found = await conn.execute(
        select(m.rev_user_id).where(
            m.conversation_id == row["conversation_id"], m.rev_user_id == link.recipient_key
        )
    )
    return found.first() is not None


def mail_link(runtime: Runtime, artifact_key_: int, recipient_key: int) -> str:
    days = runtime.settings.mail_artifact_link_days
    link = ArtifactLink(
        "mail", artifact_key_, "original", int(time.time()) + days * 86400, recipient_key
    )
    return Links(runtime).url_of(link)


async def mail_file_links(
    runtime: Runtime, conn: AsyncConnection, message_keys: Sequence[int], recipient_key: int
) -> dict[int, tuple[tuple[str, str], ...]]:
    """For a notification mail: each message's files as (name, link), the
    links signed for ``recipient_key`` (see ``links``)."""
    found: dict[int, list[tuple[str, str]]] = {}
    if message_keys:
        rows = await conn.execute(
            select(artifacts.c.id, artifacts.c.message_id, artifacts.c.file_name)
            .where(artifacts.c.message_id.in_(list(message_keys)))
            .order_by(artifacts.c.id)
        )
        for r in rows:
            link = mail_link(runtime, int(r.id), recipient_key)
            found.setdefault(int(r.message_id), []).append((str(r.file_name), link))
    return {k: tuple(v) for k, v in found.items()}


# --- removal ----------------------------------------------------------------------


async def forget_objects(conn: AsyncConnection, rows: Sequence[Row]) -> None:
    """Schedule the bytes of ``rows`` for deletion, in the transaction that
    deletes the rows: the bytes go exactly when the rows do (retried if the
    storage is down)."""
    keys = [str(r["storage_key"]) for r in rows if r["storage_key"] is not None]
    if keys:
        await enqueue(conn, DELETE_OBJECTS, {"storage_keys": keys})


async def artifacts_of_rev_users(conn: AsyncConnection, keys: Sequence[int]) -> list[Row]:
    rows = await conn.execute(
        select(artifacts).where(artifacts.c.uploader_rev_user_id.in_(list(keys)))
    )
    return [r._mapping for r in rows]


async def artifacts_of_conversations(conn: AsyncConnection, keys: Any) -> list[Row]:
    rows = await conn.execute(select(artifacts).where(artifacts.c.conversation_id.in_(keys)))
    return [r._mapping for r in rows]


async def delete_objects(runtime: Runtime, storage_keys: Sequence[str]) -> None:
    storage = storage_of(runtime)
    for key in storage_keys:
        for variant in ("original", "inline", "thumb"):
            await storage.delete(f"{key}/{variant}")


async def sweep_orphans(runtime: Runtime) -> int:
    """Remove artifacts prepared longer ago than
    ``OPENPLUG_ORPHAN_ARTIFACT_SECONDS`` and never attached; how many."""
    before = utcnow() - timedelta(seconds=runtime.settings.orphan_artifact_seconds)
    async with runtime.db.write() as conn:
        rows = [
            r._mapping
            for r in await conn.execute(
                select(artifacts)
                .where(artifacts.c.message_id.is_(None), artifacts.c.created_at < before)
                .limit(SWEEP_BATCH)
                .with_for_update()
            )
        ]
        if rows:
            await conn.execute(
                artifacts.delete().where(
                    artifacts.c.id.in_([int(r["id"]) for r in rows]),
                    artifacts.c.message_id.is_(None),
                )
            )
            await forget_objects(conn, rows)
    if rows:
        log.info("removed %d artifacts never attached", len(rows))
    return len(rows)
