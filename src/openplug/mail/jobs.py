"""What the mail room adds to a running server: its outbox handlers and the
hook that turns conversation changes into mail jobs."""

from __future__ import annotations

from openplug.conversations.events import TransactionHook
from openplug.mail import smtp_sender, visitor_digest
from openplug.outbox import Handler, Job, Outcome
from openplug.runtime import Runtime

TRANSACTION_HOOKS: tuple[TransactionHook, ...] = (visitor_digest.on_change,)


def handlers(runtime: Runtime) -> dict[str, Handler]:
    async def digest(job: Job) -> Outcome:
        return await visitor_digest.run(runtime, job)

    async def send(job: Job) -> Outcome:
        return await smtp_sender.run(runtime, job)

    return {visitor_digest.KIND: digest, visitor_digest.SEND: send}
