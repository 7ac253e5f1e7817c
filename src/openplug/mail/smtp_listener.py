"""The built-in SMTP listener for replies (``OPENPLUG_SMTP_INBOUND_PORT``).

It is the last hop, not an MX for the internet: it binds to 127.0.0.1 by
default (``OPENPLUG_SMTP_INBOUND_HOST``), takes mail for reply addresses
of the inbound domain only (no relaying, no AUTH), and expects an MTA in
front of it (Postfix, a relay, the MX) to do TLS, spam filtering and
retries. Everything is decided as early as SMTP allows, so the MTA in
front bounces what is refused instead of openplug storing it:

- RCPT TO that is not a valid reply address: 550 there and then;
- a message over ``OPENPLUG_MAX_INBOUND_MAIL_BYTES``: 552 (announced in
  EHLO as SIZE, so a client that reads it never sends one);
- a refused reply (another sender, nothing but the quote): 550 with the
  reason;
- posted, a retry of one posted, or a robot's mail dropped: 250;
- a failure of ours (the database away): 451, so the MTA retries.

It runs on the server's own event loop (aiosmtpd's protocol on
``loop.create_server``), using the same database engine as the HTTP side.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from openplug.mail.inbound import ReplyRefused, check_recipient, receive_reply
from openplug.runtime import Runtime

log = logging.getLogger("openplug.mail.smtp")

# aiosmtpd logs every command line at INFO, RCPT TO included: a reply
# address is a capability and must never reach a log.
logging.getLogger("mail.log").setLevel(logging.WARNING)

# A relay takes a minute or more between tries; a session left idle this
# long is one it forgot.
IDLE_TIMEOUT_SECONDS = 120.0


class _ReplyHandler:
    """aiosmtpd's hooks: RCPT checks the address, DATA takes the reply."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if envelope.rcpt_tos:
            # One conversation per message; SMTP has one answer for the
            # DATA of all recipients. A client sends the others again in
            # another transaction (RFC 5321, 4.5.3.1.10).
            return "452 4.5.3 One reply address per message"
        try:
            await check_recipient(self.runtime, address)
        except ReplyRefused as refused:
            log.info("inbound SMTP recipient refused (%s)", refused.reason)
            return refused.smtp_reply
        except Exception:
            log.exception("inbound SMTP: checking a recipient failed")
            return "451 4.3.0 Temporary failure, try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            await receive_reply(
                self.runtime,
                raw,
                recipients=list(envelope.rcpt_tos),
                envelope_sender=envelope.mail_from,
                via="smtp",
            )
        except ReplyRefused as refused:
            return refused.smtp_reply
        except Exception:
            log.exception("inbound SMTP: taking a reply failed")
            return "451 4.3.0 Temporary failure, try again later"
        return "250 OK"


@dataclass
class InboundListener:
    """The running listener; ``port`` is the one bound (useful with 0)."""

    server: asyncio.Server
    host: str
    port: int
    _sessions: weakref.WeakSet[SMTP] = field(default_factory=weakref.WeakSet)

    async def aclose(self) -> None:
        self.server.close()
        # Python 3.11's wait_closed does not wait for (or end) sessions
        # still open; end them, so none outlives the database engine.
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        await self.server.wait_closed()


async def start_listener(runtime: Runtime) -> InboundListener:
    settings = runtime.settings
    handler = _ReplyHandler(runtime)
    loop = asyncio.get_running_loop()
    sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    def new_session() -> SMTP:
        smtp = SMTP(
            handler,
            data_size_limit=settings.max_inbound_mail_bytes,
            enable_SMTPUTF8=True,
            # Named, not looked up: socket.getfqdn() can block on DNS.
            hostname=runtime.mail.inbound_domain,
            ident="openplug",
            timeout=IDLE_TIMEOUT_SECONDS,
            # Nothing to log in to: no AUTH offered at all.
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
            loop=loop,
        )
        sessions.add(smtp)
        return smtp

    server = await loop.create_server(
        new_session, host=settings.smtp_inbound_host, port=settings.smtp_inbound_port or 0
    )
    sockname: Any = server.sockets[0].getsockname()
    listener = InboundListener(server, str(sockname[0]), int(sockname[1]), sessions)
    log.info("inbound SMTP listening on %s:%d", listener.host, listener.port)
    return listener
