"""Attaching uploaded artifacts to a message, inside the message's
transaction: the conversations service calls ``attach_artifacts`` right
after it inserts the message, so the message and its files commit or roll
back together.

Only the author's own artifacts, fully uploaded, not attached before. The
UPDATE carries all three conditions, so of two messages naming the same
artifact at once, the second's UPDATE waits for the first's row lock
(PostgreSQL; SQLite's write lock holds one writer anyway), then matches
nothing and that message is refused: an artifact is attached once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from openplug.artifacts.tables import artifacts
from openplug.errors import InvalidField, MissingRequiredField
from openplug.ids import ARTIFACT, parse_int_key

MAX_ARTIFACTS_PER_MESSAGE = 50


@dataclass(frozen=True)
class Attaching:
    """Who posts the message: a visitor (from one app's widget), an agent,
    or a visitor by mail (``uploaded_by_mail``: the artifacts were made from
    that mail, uploader nobody)."""

    kind: Literal["rev_user", "dev_user", "mail"]
    key: int
    app_pk: int | None = None


def artifact_keys(ids: Sequence[str], field_name: str = "artifacts") -> list[int]:
    keys = [parse_int_key(v, ARTIFACT, f"{field_name}[{i}]") for i, v in enumerate(ids)]
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise InvalidField(f"{field_name}[{i}]", "named twice")
    return keys


def message_parts(
    body: str | None, ids: Sequence[str] | None, prefix: str = ""
) -> tuple[str, list[int]]:
    """A message's text and artifact keys: files alone, text alone, or both
    (a message of files alone has the body ``""``)."""
    keys = artifact_keys(ids or (), f"{prefix}artifacts")
    if body is None and not keys:
        raise MissingRequiredField(
            f"{prefix}body", f"{prefix}body or {prefix}artifacts is required"
        )
    return body or "", keys


async def attach_artifacts(
    conn: AsyncConnection,
    keys: Sequence[int],
    *,
    by: Attaching,
    message_key: int,
    conversation_key: int,
    now: datetime,
    field_name: str = "artifacts",
) -> None:
    a = artifacts.c
    if by.kind == "rev_user":
        own = [a.uploader_rev_user_id == by.key, a.app_pk == by.app_pk]
    elif by.kind == "dev_user":
        own = [a.uploader_dev_user_id == by.key]
    else:
        own = [a.uploader_rev_user_id.is_(None), a.uploader_dev_user_id.is_(None)]
    for i, key in enumerate(keys):
        done = await conn.execute(
            update(artifacts)
            .where(a.id == key, a.state == "uploaded", a.message_id.is_(None), *own)
            .values(message_id=message_key, conversation_id=conversation_key, attached_at=now)
        )
        if not done.rowcount:
            raise InvalidField(f"{field_name}[{i}]", await _why_not(conn, key, own))


async def _why_not(conn: AsyncConnection, key: int, own: Sequence[ColumnElement[bool]]) -> str:
    a = artifacts.c
    row = (await conn.execute(select(a.state, a.message_id).where(a.id == key, *own))).first()
    if row is None:
        # Someone else's is answered like one that does not exist.
        return "no artifact of yours has this id"
    if row.message_id is not None:
        return "already attached to a message"
    return "its file has not been uploaded (yet)"
