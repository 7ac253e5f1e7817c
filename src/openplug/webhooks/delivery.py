"""Sending one event to one webhook: the outbox handler.

The body is DevRev's ``webhook-event-request``: ``id`` (the same on every
attempt), ``webhook_id``, ``timestamp`` (this attempt's, so a receiver can
refuse stale requests), ``type`` and a field named after the type. It is
signed with ``X-DevRev-Signature``: the lowercase hex HMAC-SHA256 of the
raw body, keyed by the webhook's secret (its UTF-8 bytes).

2xx is delivered (for ``verify``, only if the answer echoes the
challenge); 408, 429, 5xx, timeouts and connection errors are retried with
the outbox's backoff; any other answer fails for good. Redirects are not
followed (a redirect could lead to an address the URL check refused).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select, update

from openplug.conversations.render import ConversationRenderer
from openplug.conversations.tables import conversations, messages
from openplug.crm.records import ACCOUNTS, REV_ORGS, REV_USERS, Renderer
from openplug.db.base import rfc3339, utcnow
from openplug.ids import WEBHOOK, don
from openplug.outbox import GiveUp, Job, Outcome, Retry
from openplug.runtime import Runtime
from openplug.webhooks.events import VERIFY, ActiveTypes
from openplug.webhooks.service import is_public_address
from openplug.webhooks.tables import webhook_deliveries, webhooks

log = logging.getLogger("openplug.webhooks")
SIGNATURE_HEADER = "X-DevRev-Signature"
MAX_ERROR_CHARS = 500
Json = dict[str, Any]


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_id(org_id: str, webhook_key: int, event_uid: str) -> str:
    return f"{don(org_id, WEBHOOK, webhook_key)}:event/{event_uid}"


async def _render(runtime: Runtime, event_type: str, key: int) -> Json | None:
    """The object the event is about, as the matching DevRev call shows it;
    None when it is gone."""
    leaf = event_type.rsplit("_", 1)[0]
    async with runtime.db.read() as conn:
        if leaf == "conversation":
            row = (
                await conn.execute(select(conversations).where(conversations.c.id == key))
            ).first()
            if row is None:
                return None
            renderer = ConversationRenderer(conn, runtime.org_id)
            (view,) = await renderer.conversations([row._mapping], agent_key=0)
            return {"conversation": view}
        if leaf == "timeline_entry":
            row = (await conn.execute(select(messages).where(messages.c.id == key))).first()
            if row is None:
                return None
            renderer = ConversationRenderer(conn, runtime.org_id)
            (entry,) = await renderer.timeline_entries([row._mapping])
            return {"entry": entry}
        crm = {"rev_user": REV_USERS, "account": ACCOUNTS, "rev_org": REV_ORGS}[leaf]
        found = (await conn.execute(select(crm.table).where(crm.table.c.id == key))).first()
        if found is None:
            return None
        r = Renderer(conn, runtime.org_id)
        render = {"rev_user": r.rev_users, "account": r.accounts, "rev_org": r.rev_orgs}[leaf]
        (view,) = await render([found._mapping])
        return {leaf: {k: v for k, v in view.items() if v is not None}}


async def _note(delivery_key: int, db: Any, **values: Any) -> None:
    if "last_error" in values and values["last_error"] is not None:
        values["last_error"] = str(values["last_error"])[:MAX_ERROR_CHARS]
    async with db.write() as conn:
        await conn.execute(
            update(webhook_deliveries)
            .where(webhook_deliveries.c.id == delivery_key)
            .values(**values)
        )


async def _check_destination(url: str, allow_private: bool) -> None:
    if allow_private:
        return
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as e:
        raise Retry(f"cannot resolve {host}: {e}") from None
    for info in infos:
        if not is_public_address(str(info[4][0])):
            raise GiveUp(f"{host} resolves to a non-public address")


async def deliver(
    runtime: Runtime, client: httpx.AsyncClient, active: ActiveTypes, job: Job
) -> Outcome:
    key = int(job.payload["delivery"])
    db = runtime.db
    async with db.read() as conn:
        d = (
            await conn.execute(select(webhook_deliveries).where(webhook_deliveries.c.id == key))
        ).first()
        hook = None
        if d is not None:
            hook = (
                await conn.execute(select(webhooks).where(webhooks.c.id == d.webhook_id))
            ).first()
    if d is None or hook is None:
        return "dropped"  # the webhook was deleted
    is_verify = d.type == VERIFY
    current = (
        hook.enabled and hook.challenge is not None and d.body == {"challenge": hook.challenge}
        if is_verify
        else hook.enabled and hook.verified
    )
    if not current:
        await _note(key, db, state="dropped", last_error="webhook no longer active")
        return "dropped"
    body = d.body
    if body is None:
        body = await _render(runtime, str(d.type), int(d.object_key))
        if body is None:
            await _note(key, db, state="dropped", last_error="the object is gone")
            return "dropped"
        await _note(key, db, body=body)
    event = {
        "id": event_id(runtime.org_id, int(hook.id), str(d.event_uid)),
        "webhook_id": don(runtime.org_id, WEBHOOK, int(hook.id)),
        "timestamp": rfc3339(utcnow()),
        "type": d.type,
        str(d.type): body,
    }
    raw = json.dumps(event, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(str(hook.secret), raw)}
    attempts = int(d.attempts) + 1
    started = utcnow()
    last_try = runtime.outbox is not None and job.attempts >= runtime.outbox.max_attempts
    try:
        await _check_destination(str(hook.url), runtime.settings.webhooks_allow_private)
        response = await client.post(str(hook.url), content=raw, headers=headers)
    except (Retry, GiveUp) as e:
        state = "failed" if isinstance(e, GiveUp) or last_try else "pending"
        await _note(key, db, state=state, attempts=attempts, last_attempt_at=started,
                    last_status=None, last_error=str(e))  # fmt: skip
        raise
    except httpx.HTTPError as e:
        error = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
        await _note(key, db, state="failed" if last_try else "pending", attempts=attempts,
                    last_attempt_at=started, last_status=None, last_error=error)  # fmt: skip
        raise Retry(error) from None
    status = response.status_code
    if 200 <= status < 300:
        if is_verify and not _echoes(response, str(d.body["challenge"])):
            error = "the answer did not echo the challenge"
            await _note(key, db, state="failed", attempts=attempts, last_attempt_at=started,
                        last_status=status, last_error=error)  # fmt: skip
            raise GiveUp("verify: the answer did not echo the challenge")
        async with db.write() as conn:
            await conn.execute(
                update(webhook_deliveries)
                .where(webhook_deliveries.c.id == key)
                .values(state="delivered", attempts=attempts, last_attempt_at=started,
                        delivered_at=utcnow(), last_status=status, last_error=None)
            )  # fmt: skip
            if is_verify:
                await conn.execute(
                    update(webhooks)
                    .where(webhooks.c.id == hook.id, webhooks.c.challenge == hook.challenge)
                    .values(verified=True, challenge=None)
                )
        if is_verify:
            active.invalidate()
            log.info("webhook %s verified", hook.id)
        return "done"
    retry = status in (408, 429) or status >= 500
    await _note(key, db, state="pending" if retry and not last_try else "failed",
                attempts=attempts, last_attempt_at=started, last_status=status,
                last_error=f"HTTP {status}")  # fmt: skip
    if retry:
        raise Retry(f"HTTP {status}")
    raise GiveUp(f"HTTP {status}")


def _echoes(response: httpx.Response, challenge: str) -> bool:
    try:
        answer = response.json()
    except ValueError:
        return False
    return isinstance(answer, dict) and answer.get("challenge") == challenge
