"""What the webhooks room adds to a running server: its handler in the
outbox worker, the hooks that turn changes into events, and the HTTP client
deliveries share."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from openplug.conversations.events import ChangeListener, ConversationChange, TransactionHook
from openplug.crm.changes import CrmHook
from openplug.outbox import Job, Outcome
from openplug.runtime import Runtime
from openplug.webhooks.delivery import deliver
from openplug.webhooks.events import DELIVER, ActiveTypes, conversation_hook, crm_hook


@dataclass
class WebhookServices:
    active: ActiveTypes
    client: httpx.AsyncClient
    _hook: TransactionHook
    _crm_hook: CrmHook
    _wake: ChangeListener

    async def aclose(self, runtime: Runtime) -> None:
        runtime.transaction_hooks.remove(self._hook)
        runtime.crm_hooks.remove(self._crm_hook)
        runtime.change_listeners.remove(self._wake)
        await self.client.aclose()


def start_webhooks(runtime: Runtime) -> WebhookServices:
    """After the mail room has started the outbox worker."""
    outbox = runtime.outbox
    if outbox is None:
        raise RuntimeError("start_webhooks needs the outbox worker start_mail makes")
    active = ActiveTypes()
    timeout = runtime.settings.webhooks_timeout_seconds
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        follow_redirects=False,
        headers={"User-Agent": "openplug-webhooks"},
    )

    async def handler(job: Job) -> Outcome:
        return await deliver(runtime, client, active, job)

    outbox.handlers[DELIVER] = handler
    hook = conversation_hook(active, runtime.org_id)
    on_crm = crm_hook(active, runtime.org_id)
    runtime.transaction_hooks.append(hook)
    runtime.crm_hooks.append(on_crm)

    def wake(change: ConversationChange) -> None:
        outbox.wake()

    runtime.change_listeners.append(wake)
    return WebhookServices(active, client, hook, on_crm, wake)
