"""Closing open sockets whose credential stops being valid.

A socket proves its credential once, in its auth frame, but the credential
can end while the socket stays open: a visitor logs out, an agent revokes
a user's sessions, deletes the user or revokes a PAT, an anonymous visitor
is merged into an identified user, or the token simply expires.

- **Revocation.** Each principal has a control topic,
  ``credentials:rev_user:<n>`` (a visitor's session tokens) or
  ``credentials:dev_user:<n>`` (an agent's PATs and inbox sign-ins). Whoever
  ends a credential calls ``announce_revoked`` *after its transaction
  commits*; every socket of that principal, in every process (the signal
  goes through the broker), then asks its ``Credential.check`` again, and
  the sockets whose credential no longer passes close. The event says only
  "re-check": one logout among several tabs closes only that tab's socket,
  and a stray or repeated signal costs a read, never a wrong close.
- **Expiry.** ``Credential.expires_at``: the session arms one timer handle
  (``loop.call_at``) for it, cancelled when the socket closes; no task and
  no polling per socket.
- **What nobody announced.** A credential can also end where no broker
  reaches: ``openplug tokens revoke`` on a deployment without Redis (the
  CLI is another process), a change made directly in the database, an
  announcement lost with a Redis connection or given up on a hung one. So every
  ``SessionLimits.credential_recheck_interval`` each process's sweeper
  re-checks the credentials of all its open sockets that carry a
  ``Recheck``: one ``CredentialBatch.ended`` call (a batched read) per
  kind of credential, not a query per socket, and the sockets whose
  credential ended close exactly as after an announcement.

An announcement never holds up the request that ends the credential: it
is waited for at most ``ANNOUNCE_WAIT`` (a healthy broker answers in far
less, so it is out before the response), then left to finish in the
background within ``ANNOUNCE_DEADLINE``; a failed one is logged once, and
the periodic re-check closes its sockets instead.

Control topics are not for clients: no policy authorises them and the
session refuses to let a client subscribe to or unsubscribe from them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from openplug.realtime.broker import Broker, Event, PublishFailed

log = logging.getLogger("openplug.realtime")

CredentialOwner = Literal["rev_user", "dev_user"]
# The one event type on a control topic.
CREDENTIALS_REVOKED = "credentials.revoked"
ANNOUNCE_WAIT = 0.25
ANNOUNCE_DEADLINE = 10.0
# Announcements still being sent (kept referenced until done).
_announcing: set[asyncio.Task[None]] = set()


def credential_topic(owner: CredentialOwner, key: int) -> str:
    return f"credentials:{owner}:{key}"


R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True, slots=True)
class CredentialEnded:
    """Why a credential no longer passes its check."""

    reason: str
    # Its expiry passed (close with 4440), rather than it being revoked (4410).
    expired: bool = False


class CredentialBatch(Protocol[R]):
    """Re-checks many open sockets' credentials of one kind at once.

    Sockets are grouped by their batch's equality, so make each socket's
    batch equal to the others' of its kind (e.g. a frozen dataclass holding
    the database), not a new closure per socket."""

    async def ended(self, refs: Collection[R]) -> dict[R, CredentialEnded]:
        """The refs whose credential no longer passes, and why; refs not
        in the result are still valid."""
        ...


@dataclass(frozen=True, slots=True)
class Recheck(Generic[R]):
    """How the sweeper re-checks one socket's credential: ``ref`` names it
    to ``batch`` (a token's row, a session's claims)."""

    batch: CredentialBatch[R]
    ref: R


@dataclass(frozen=True, slots=True)
class Credential:
    """What keeps a socket open, from its ``SocketPolicy``."""

    # Control topics: any event on one makes the session call ``check``.
    topics: tuple[str, ...]
    # Wall-clock expiry (seconds since the epoch); None: never expires.
    expires_at: float | None
    # None while the credential is still valid, else why not. The session
    # also calls it once right after subscribing to ``topics``, so that a
    # revocation committed between the auth check and the subscription
    # (whose signal nobody heard) still closes the socket.
    check: Callable[[], Awaitable[str | None]]
    # The periodic re-check, for ends nobody announced (None: none).
    recheck: Recheck[Any] | None = None


async def announce_revoked(broker: Broker, owner: CredentialOwner, key: int, reason: str) -> None:
    """Tell every open socket of this principal to re-check its credential.
    Call it after the commit that ended a credential. Returns within
    ``ANNOUNCE_WAIT`` whatever the broker does; a broker failure is logged,
    not raised: the change is committed, and the sockets it missed close
    at the servers' next periodic re-check."""
    task = asyncio.get_running_loop().create_task(_announce(broker, owner, key, reason))
    _announcing.add(task)
    task.add_done_callback(_announcing.discard)
    await asyncio.wait({task}, timeout=ANNOUNCE_WAIT)


async def announcements_sent() -> None:
    """Wait for this loop's announcements still being sent (each within
    ``ANNOUNCE_DEADLINE``): before closing the broker, so that a CLI
    command's revocation is not dropped with its process."""
    loop = asyncio.get_running_loop()
    pending = [task for task in _announcing if task.get_loop() is loop]
    if pending:
        await asyncio.wait(pending)


async def _announce(broker: Broker, owner: CredentialOwner, key: int, reason: str) -> None:
    event: Event = {"type": CREDENTIALS_REVOKED, "reason": reason}
    try:
        async with asyncio.timeout(ANNOUNCE_DEADLINE):
            await broker.publish(credential_topic(owner, key), event)
    except (PublishFailed, TimeoutError) as e:
        log.warning(
            "credentials of %s %d revoked, sockets not told (the periodic re-check will): %r",
            owner,
            key,
            e,
        )
