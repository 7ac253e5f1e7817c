"""``Idempotency-Key`` for the writes a client retries (a visitor's or an
agent's message, a new conversation), as in Stripe's API.

A client that sent a write and got no answer (a dropped connection, a
timeout, a 5xx from a proxy) cannot know whether it was committed; sent
again with the same key, the write is made at most once. The answer is
stored in the write's own transaction, so it exists exactly when the write
does, in the database every process shares:

- the same key with the same parameters within ``KEPT_FOR`` -> the first
  answer again, with ``Idempotent-Replayed: true``;
- the same key with other parameters -> 400 naming ``Idempotency-Key`` (as
  Stripe does; 400 is in every write's documented answers);
- two requests with the same key at once -> one write: the second waits
  for the first's transaction (PostgreSQL's unique index, SQLite's single
  writer), its own write is rolled back and it answers the first's answer;
- keys belong to one caller (an app's visitor, an agent): another caller's
  key of the same spelling is another key.

Only answers of writes that were made are stored: a refused request (400,
404, 429) can be retried with the same key once its cause is fixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Header
from pydantic import BaseModel
from sqlalchemy import String, cast, delete, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response

from openplug.db import Database
from openplug.db.base import utcnow
from openplug.errors import ApiError, Conflict, InvalidField
from openplug.idempotency.tables import idempotency_keys
from openplug.ids import REV_USER, display_id
from openplug.runtime import Runtime

if TYPE_CHECKING:
    from openplug.outbox.worker import OutboxWorker

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEPT_FOR = timedelta(hours=24)
MAX_KEY_LENGTH = 255
SWEEP_SECONDS = 600.0
SWEEP_BATCH = 1000

Json = dict[str, Any]
# The header, as a route parameter.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=HEADER,
        description=(
            "A key of the client's choosing (a UUID) that makes a retry of this write safe: "
            "sent again with the same parameters within 24 hours, the first answer is "
            f"replayed (with `{REPLAYED_HEADER}: true`) and nothing is written twice."
        ),
    ),
]
# Called by the write, inside its transaction, with the answer it built.
Remember = Callable[[AsyncConnection, Json], Awaitable[None]]


class KeyReused(ApiError):
    """The key was used for a request with other parameters."""

    status_code = 400
    error_type = "invalid_field"

    def __init__(self) -> None:
        super().__init__(
            f"this {HEADER} was used with other parameters; send a new key for a new request",
            field_name=HEADER,
        )


class _KeyTaken(Exception):
    """Another request with the key committed first: roll this one back."""


@dataclass(frozen=True)
class IdempotentCall:
    scope: str
    key: str
    route: str
    fingerprint: str

    @classmethod
    def of(
        cls, key: str | None, *, scope: str, route: str, body: BaseModel
    ) -> IdempotentCall | None:
        """None without a key. The fingerprint is of the parsed body, so a
        retry that spells the same JSON differently (key order, spaces) is
        the same request."""
        if key is None:
            return None
        if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
            raise InvalidField(
                HEADER, f"give 1 to {MAX_KEY_LENGTH} printable ASCII characters (a UUID)"
            )
        canonical = json.dumps(
            [route, body.model_dump(mode="json")], sort_keys=True, separators=(",", ":")
        )
        return cls(scope, key, route, hashlib.sha256(canonical.encode()).hexdigest())


async def once(
    runtime: Runtime,
    call: IdempotentCall | None,
    response: Response,
    status_code: int,
    write: Callable[[Remember | None], Awaitable[Json]],
) -> Json:
    """Run ``write`` (which calls ``remember`` in its transaction with its
    answer) unless the key's answer exists: that answer then."""
    if call is None:
        return await write(None)
    if (done := await _replay(runtime, call, response)) is not None:
        return done

    async def remember(conn: AsyncConnection, answer: Json) -> None:
        k = idempotency_keys.c
        await conn.execute(
            delete(idempotency_keys).where(
                k.scope == call.scope, k.key == call.key, k.created_at <= utcnow() - KEPT_FOR
            )
        )
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        stored = await conn.execute(
            dialect_insert(idempotency_keys)
            .values(
                scope=call.scope,
                key=call.key,
                route=call.route,
                fingerprint=call.fingerprint,
                status_code=status_code,
                response=answer,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(idempotency_keys.c.id)
        )
        if stored.first() is None:
            raise _KeyTaken

    try:
        return await write(remember)
    except _KeyTaken:
        done = await _replay(runtime, call, response)
        if done is None:  # expired in between: 24 hours after the first
            raise Conflict(f"this {HEADER} expired while the request ran; retry it") from None
        return done


async def _replay(runtime: Runtime, call: IdempotentCall, response: Response) -> Json | None:
    k = idempotency_keys.c
    async with runtime.db.read() as conn:
        row = (
            await conn.execute(
                select(k.route, k.fingerprint, k.status_code, k.response, k.created_at).where(
                    k.scope == call.scope, k.key == call.key
                )
            )
        ).first()
    if row is None or row.created_at <= utcnow() - KEPT_FOR:
        return None
    if row.route != call.route or row.fingerprint != call.fingerprint:
        raise KeyReused
    response.status_code = int(row.status_code)
    response.headers[REPLAYED_HEADER] = "true"
    answer: Json = row.response
    return answer


def visitor_scope(app_pk: int, rev_user_key: int) -> str:
    return f"app:{app_pk}:rev_user:{rev_user_key}"


async def forget_visitors(conn: AsyncConnection, rev_user_keys: Sequence[int]) -> None:
    """Erasure: the stored answers of these visitors' writes hold their
    messages, and the answers of agents' writes that named them (a
    conversation created with them as a member) hold their ids and names;
    both go with them rather than a day later. An answer names a visitor
    by their DON or display id, each a whole JSON string (``revu/7"`` does
    not match ``revu/70"``); the table holds a day of writes, so the scan
    is small and erasures are rare."""
    k = idempotency_keys.c
    text = cast(k.response, String)
    for key in rev_user_keys:
        names_them = or_(
            text.contains(f':{REV_USER.don_type}/{int(key)}"', autoescape=True),
            text.contains(f'"{display_id(REV_USER, int(key))}"', autoescape=True),
        )
        await conn.execute(
            delete(idempotency_keys).where(
                or_(k.scope.like(f"app:%:rev_user:{int(key)}"), names_them)
            )
        )


async def sweep(db: Database) -> int:
    """Forget answers older than ``KEPT_FOR``, a batch at a time; how many."""
    k = idempotency_keys.c
    horizon = utcnow() - KEPT_FOR
    async with db.write() as conn:
        old = select(k.id).where(k.created_at <= horizon).limit(SWEEP_BATCH)
        result = await conn.execute(delete(idempotency_keys).where(k.id.in_(old)))
    return int(result.rowcount)


def schedule_sweep(runtime: Runtime, outbox: OutboxWorker) -> None:
    """Every ``SWEEP_SECONDS`` in the outbox worker's loop, on every
    process (a batch deleted twice is deleted once)."""

    async def run() -> None:
        while await sweep(runtime.db) >= SWEEP_BATCH:
            pass

    outbox.every(SWEEP_SECONDS, run)
