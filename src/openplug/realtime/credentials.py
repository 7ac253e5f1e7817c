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

Control topics are not for clients: no policy authorises them and the
session refuses to let a client subscribe to or unsubscribe from them.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from openplug.realtime.broker import Broker, Event, PublishFailed

log = logging.getLogger("openplug.realtime")

CredentialOwner = Literal["rev_user", "dev_user"]
# The one event type on a control topic.
CREDENTIALS_REVOKED = "credentials.revoked"


def credential_topic(owner: CredentialOwner, key: int) -> str:
    return f"credentials:{owner}:{key}"


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


async def announce_revoked(broker: Broker, owner: CredentialOwner, key: int, reason: str) -> None:
    """Tell every open socket of this principal to re-check its credential.
    Call it after the commit that ended a credential. A broker failure is
    logged, not raised: the change is committed, and the sockets it missed
    close at the latest when their credential expires or they reconnect."""
    event: Event = {"type": CREDENTIALS_REVOKED, "reason": reason}
    try:
        await broker.publish(credential_topic(owner, key), event)
    except PublishFailed as e:
        log.warning("credentials of %s %d revoked, sockets not told: %s", owner, key, e)
