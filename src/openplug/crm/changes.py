"""What changed in the CRM (a rev user, account or workspace created,
updated or deleted), told to hooks inside the change's own transaction.

Work that must exist exactly when the change does (a webhook event to
deliver) is written by a hook in that transaction. Hooks are synchronous
because identify's write phase is (see ``crm.identify``); async callers
run them with ``AsyncConnection.run_sync``. Nothing calls a hook when
nothing changed, so a returning visitor whose traits are the same costs
no hook at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

CrmLeaf = Literal["rev_user", "account", "rev_org"]
CrmChangeKind = Literal["created", "updated", "deleted"]


@dataclass(frozen=True)
class CrmChange:
    kind: CrmChangeKind
    leaf: CrmLeaf
    key: int


CrmHook = Callable[[Connection, CrmChange], None]


def run_crm_hooks(hooks: Sequence[CrmHook], conn: Connection, changes: Iterable[CrmChange]) -> None:
    for change in changes:
        for hook in hooks:
            hook(conn, change)


async def run_crm_hooks_async(
    hooks: Sequence[CrmHook], conn: AsyncConnection, changes: Sequence[CrmChange]
) -> None:
    if not hooks or not changes:
        return
    await conn.run_sync(lambda sync: run_crm_hooks(hooks, sync, changes))
