"""What the mail room adds to a running server: the outbox worker with its
handlers, the hooks that turn conversation changes into mail jobs, and the
inbound SMTP listener when one is configured."""

from __future__ import annotations

from dataclasses import dataclass

from openplug.conversations.events import ChangeListener, ConversationChange, TransactionHook
from openplug.mail import agent_digest, smtp_sender, visitor_digest
from openplug.mail.outgoing import SEND
from openplug.mail.smtp_listener import InboundListener, start_listener
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


@dataclass
class MailServices:
    outbox: OutboxWorker
    listener: InboundListener | None
    _hooks: list[TransactionHook]
    _wake: ChangeListener

    async def aclose(self, runtime: Runtime) -> None:
        if self.listener is not None:
            await self.listener.aclose()
        runtime.change_listeners.remove(self._wake)
        for hook in self._hooks:
            runtime.transaction_hooks.remove(hook)
        await self.outbox.aclose()
        runtime.outbox = None


async def start_mail(
    runtime: Runtime, other_handlers: dict[str, Handler] | None = None
) -> MailServices:
    """``other_handlers``: the other rooms' outbox jobs, run by the same
    worker (one outbox per process)."""
    settings = runtime.settings
    hooks = transaction_hooks(settings)
    runtime.transaction_hooks.extend(hooks)
    outbox = runtime.outbox = OutboxWorker(
        runtime.db,
        {**(other_handlers or {}), **handlers(runtime)},
        poll_seconds=settings.outbox_poll_seconds,
        retry_seconds=settings.outbox_retry_seconds,
    )
    outbox.start()
    wake = wake_on_change(outbox)
    runtime.change_listeners.append(wake)
    listener = await start_listener(runtime) if settings.smtp_inbound_port is not None else None
    return MailServices(outbox, listener, hooks, wake)
