"""Sending a composed mail over SMTP with aiosmtplib: the ``mail.send``
outbox job.

The stored bytes are sent as they are, so every attempt is the same mail.
A refusal that will not change (5xx: no such mailbox, policy) fails the
mail for good; anything else (server down, 4xx, timeout) is retried by the
outbox with backoff, and the mail shows the last error meanwhile.
"""

from __future__ import annotations

import logging

import aiosmtplib
from sqlalchemy import select, update

from openplug.db.base import utcnow
from openplug.mail.tables import outgoing_mails
from openplug.outbox import GiveUp, Job, Outcome, Retry
from openplug.runtime import Runtime

log = logging.getLogger("openplug.mail")
TIMEOUT_SECONDS = 30.0


async def _record(runtime: Runtime, key: int, **values: object) -> None:
    async with runtime.db.write() as conn:
        await conn.execute(
            update(outgoing_mails).where(outgoing_mails.c.id == key).values(**values)
        )


async def run(runtime: Runtime, job: Job) -> Outcome:
    key = int(job.payload["mail"])
    async with runtime.db.read() as conn:
        mail = (
            await conn.execute(select(outgoing_mails).where(outgoing_mails.c.id == key))
        ).first()
    if mail is None:
        return "dropped"
    if mail.state == "sent":
        return "done"
    smtp = runtime.mail.smtp
    if smtp is None:
        await _record(runtime, key, state="held")
        return "dropped"
    try:
        await aiosmtplib.send(
            mail.raw.encode(),
            sender=runtime.mail.sender.addr_spec,
            recipients=[mail.recipient],
            hostname=smtp.host,
            port=smtp.port,
            username=smtp.username,
            password=smtp.password,
            use_tls=smtp.use_tls,
            start_tls=smtp.start_tls,
            timeout=TIMEOUT_SECONDS,
        )
    except aiosmtplib.SMTPRecipientsRefused as e:
        error = "; ".join(f"{r.code} {r.message}" for r in e.recipients)[:500]
        return await _refused(runtime, key, error)
    except aiosmtplib.SMTPResponseException as e:
        error = f"{e.code} {e.message}"
        if e.code >= 500:
            return await _refused(runtime, key, error)
        await _record(runtime, key, last_error=error[:500])
        raise Retry(error) from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
        error = f"{type(e).__name__}: {e}"[:500]
        await _record(runtime, key, last_error=error)
        raise Retry(error) from None
    await _record(runtime, key, state="sent", sent_at=utcnow(), last_error=None)
    log.info("mail %s sent", key)
    return "done"


async def _refused(runtime: Runtime, key: int, error: str) -> Outcome:
    await _record(runtime, key, state="failed", last_error=error[:500])
    raise GiveUp(error)
