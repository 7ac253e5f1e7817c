"""Visitors with an address on file, their reply addresses, and mail to send."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid
from typing import Any

from openplug.mail.addresses import reply_address
from tests.conversations.helpers import start_conversation, user_id_of
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer
from tests.realtime.test_sockets import key_of


@dataclass(frozen=True)
class Visitor:
    token: str
    user_id: str
    email: str
    conversation: dict[str, Any]

    @property
    def conversation_key(self) -> int:
        return key_of(self.conversation["id"])


def identified_visitor(server: LiveServer, ref: str, email: str) -> Visitor:
    """An identified visitor mailed at their ``email`` trait, with a
    conversation of their own."""
    rev_info = {"user_ref": ref, "user_traits": {"email": email}}
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": rev_info})
    assert r.status_code == 201, r.text
    token = str(r.json()["access_token"])
    return Visitor(token, user_id_of(token), email, start_conversation(server, token, "my order?"))


def reply_to(server: LiveServer, visitor: Visitor, email: str | None = None) -> str:
    """The reply address openplug would put in a mail to ``visitor``
    (issued for ``email``, by default the one on file)."""
    runtime = server.runtime
    assert runtime is not None
    address = reply_address(
        runtime.secrets.token_pepper, runtime.mail.inbound_domain,
        visitor.conversation_key, key_of(visitor.user_id), email or visitor.email,
    )  # fmt: skip
    REGISTRY.add("reply-address token", address.partition("@")[0])
    return address


def compose(
    sender: str,
    to: str,
    text: str,
    *,
    html: str | None = None,
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = "Re: my order?"
    mail["Message-ID"] = message_id or make_msgid(domain="visitor.example")
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(text)
    if html is not None:
        mail.add_alternative(html, subtype="html")
    return mail


QUOTED = (
    "\n\nOn Tue, 2 Dec 2025 at 10:00, Support <support@example.com> wrote:\n"
    "> It has shipped, here is the tracking number.\n> Anything else?\n"
)


def on_the_wire(mail: EmailMessage | bytes) -> bytes:
    """With CRLF line ends, as SMTP carries mail (smtplib sends bytes as given)."""
    return mail.as_bytes(policy=SMTP) if isinstance(mail, EmailMessage) else mail


def smtp_port(server: LiveServer) -> int:
    assert server.app is not None
    return int(server.app.state.inbound_smtp.port)


def _send(port: int, sender: str, recipients: list[str], raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.sendmail(sender, recipients, raw)


async def send_smtp(
    server: LiveServer, mail: EmailMessage | bytes, *, sender: str | None = None
) -> None:
    """Deliver as a relay would: MAIL FROM the sender (``"<>"`` for a
    bounce's null sender), RCPT TO the To address."""
    message = mail if isinstance(mail, EmailMessage) else None
    raw = on_the_wire(mail)
    envelope_sender = sender if sender is not None else str(message["From"]) if message else ""
    recipients = [str(message["To"])] if message else []
    await asyncio.to_thread(_send, smtp_port(server), envelope_sender, recipients, raw)


async def stored(server: LiveServer, visitor: Visitor) -> tuple[int, int]:
    """(messages, inbound mail records) in the visitor's conversation."""
    key = visitor.conversation_key
    (messages,) = await server.sql(
        "SELECT count(*) FROM messages WHERE conversation_id = :c", c=key
    )
    (records,) = await server.sql(
        "SELECT count(*) FROM inbound_replies WHERE conversation_id = :c", c=key
    )
    return int(messages[0]), int(records[0])
