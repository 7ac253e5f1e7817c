"""What the mail room adds to a running server: its outbox handlers and the
hook that turns conversation changes into mail jobs."""

from __future__ import annotations

from openplug.conversations.events import ChangeListener, ConversationChange, TransactionHook
from openplug.mail import agent_digest, smtp_sender, visitor_digest
from openplug.mail.outgoing import SEND
from openplug.outbox import Handler, Job, OutboxWorker, Outcome
from openplug.runtime import Runtime
from openplug.settings import Settings


def transaction_hooks(settings: Settings) -> list[TransactionHook]:
    return [visitor_digest.on_change, agent_digest.hook(settings.agent_mail_delay_seconds)]


def wake_on_change(outbox: OutboxWorker) -> ChangeListener:
    """After a commit that may have enqueued mail work, the worker looks at
    once (a read) instead of at its next poll: with a short delay the mail
    goes out on time."""

    def listener(change: ConversationChange) -> None:
        if change.kind == "message.created":  # a digest job may be due at once
            outbox.wake()

    return listener


def handlers(runtime: Runtime) -> dict[str, Handler]:
    async def digest(job: Job) -> Outcome:
        return await visitor_digest.run(runtime, job)

    async def agents(job: Job) -> Outcome:
        return await agent_digest.run(runtime, job)

    async def send(job: Job) -> Outcome:
        return await smtp_sender.run(runtime, job)

    return {visitor_digest.KIND: digest, agent_digest.KIND: agents, SEND: send}
