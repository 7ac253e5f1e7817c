"""Writing the mails: headers that make replies come back and robots stay
quiet, a text part and an HTML part with everything escaped.

Each mail gets its Message-ID once, when it is composed, and is stored as
the exact bytes to send (see ``tables.outgoing_mails``), so a retry after
an outage repeats the same mail and a mail client that sees it twice shows
it once. Mails of one conversation to one person share a thread root in
``References``, so they thread even with the visitor's replies between.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from openplug.mail.config import MailConfig

# The visitor's answer in their own words: what a reply should keep.
REPLY_ABOVE = "Reply to this email to answer; your reply goes straight into the conversation."


@dataclass(frozen=True)
class MessageInMail:
    author: str
    body: str
    created_at: datetime
    # Files of the message: (name, link). Linked, never attached: a mail
    # with the files in it would copy them into every mailbox on the way,
    # beyond erasure; the link is signed for the file and the recipient
    # and stops working once they may no longer read the conversation.
    files: tuple[tuple[str, str], ...] = ()


def _files_text(m: MessageInMail) -> list[str]:
    return [f"File: {one_line(name)} <{url}>" for name, url in m.files]


def _files_html(m: MessageInMail) -> str:
    return "".join(_link(url, f"File: {one_line(name)}") for name, url in m.files)


@dataclass(frozen=True)
class Composed:
    message_id: str
    subject: str
    raw: str


def when(moment: datetime) -> str:
    """A message's time as a person reads it; mails have no time zone of
    the reader, so UTC, said so."""
    return moment.astimezone(UTC).strftime("%-d %b %Y, %H:%M UTC")


def one_line(text: str) -> str:
    """A header value from user text: a line break there would start a
    header of the sender's choosing."""
    return " ".join(text.split())


def _address(name: str, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _quoted(caption: str, body: str) -> str:
    """One message in the HTML part: its caption and its text, escaped."""
    lines = "<br>".join(html.escape(line) for line in body.splitlines())
    return (
        f'<p style="color:#555;margin:16px 0 4px">{html.escape(caption)}</p>'
        f'<blockquote style="margin:0;padding:8px 12px;border-left:3px solid #ccc">{lines}'
        "</blockquote>"
    )


def _link(url: str, label: str, *, small: bool = False) -> str:
    style = ' style="color:#888;font-size:12px"' if small else ""
    return f'<p{style}><a href="{html.escape(url, quote=True)}">{html.escape(label)}</a></p>'


def _assemble(
    config: MailConfig,
    *,
    from_name: str,
    to_name: str,
    to_email: str,
    subject: str,
    thread: str,
    idstring: str,
    text: list[str],
    html_parts: list[str],
    now: datetime,
    extra_headers: dict[str, str],
) -> Composed:
    msg = EmailMessage(policy=SMTP)
    domain = config.inbound_domain
    message_id = make_msgid(idstring=idstring, domain=domain)
    thread_root = f"<{thread}@{domain}>"
    msg["From"] = Address(display_name=from_name, addr_spec=config.sender.addr_spec)
    msg["To"] = _address(one_line(to_name), to_email)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id
    msg["In-Reply-To"] = thread_root
    msg["References"] = thread_root
    # RFC 3834: a robot's mail, so auto-responders do not answer it, and
    # Exchange's equivalent.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    for name, value in extra_headers.items():
        msg[name] = value
    msg.set_content("\n".join(text))
    msg.add_alternative(
        '<!doctype html><html><body style="font-family:sans-serif">'
        + "".join(html_parts)
        + "</body></html>",
        subtype="html",
    )
    return Composed(message_id=message_id, subject=subject, raw=msg.as_string())


def visitor_reply_mail(
    config: MailConfig,
    *,
    conversation_key: int,
    rev_user_key: int,
    title: str,
    to_name: str,
    to_email: str,
    team: str,
    messages: Sequence[MessageInMail],
    reply_to: str,
    site_url: str | None,
    unsubscribe_url: str,
    now: datetime,
) -> Composed:
    """The mail for a burst of agents' replies the visitor has not seen."""
    who = ", ".join(dict.fromkeys(one_line(m.author) for m in messages))
    team = one_line(team)
    intro = f"{who} replied to your conversation with {team}:"
    text = [intro, ""]
    parts = [f"<p>{html.escape(intro)}</p>"]
    for m in messages:
        caption = f"{one_line(m.author)}, {when(m.created_at)}"
        text += [f"{caption}:", m.body, *_files_text(m), ""]
        parts.append(_quoted(caption, m.body) + _files_html(m))
    text += [REPLY_ABOVE]
    parts.append(f"<p>{html.escape(REPLY_ABOVE)}</p>")
    if site_url:
        text += [f"Or continue the chat at {site_url}"]
        parts.append(_link(site_url, f"Or continue the chat on {team}"))
    text += ["", f"Stop these emails: {unsubscribe_url}"]
    parts.append(_link(unsubscribe_url, "Stop these emails", small=True))
    return _assemble(
        config,
        from_name=f"{who} ({team})",
        to_name=to_name,
        to_email=to_email,
        subject=f"Re: {one_line(title)}",
        thread=f"conversation.{conversation_key}.{rev_user_key}",
        idstring=f"c{conversation_key}",
        text=text,
        html_parts=parts,
        now=now,
        # The way back into the conversation, and RFC 8058 one-click unsubscribe.
        extra_headers={
            "Reply-To": reply_to,
            "List-Unsubscribe": f"<{unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        },
    )


def agent_notification_mail(
    config: MailConfig,
    *,
    conversation_key: int,
    dev_user_key: int,
    kind: str,
    title: str,
    visitor: str,
    to_name: str,
    to_email: str,
    messages: Sequence[MessageInMail],
    link: str,
    preferences_link: str,
    now: datetime,
) -> Composed:
    """An agent's mail about a new conversation or a visitor's unread
    message, with a link straight to it (they answer in the inbox)."""
    visitor = one_line(visitor)
    title = one_line(title)
    if kind == "agent_new_conversation":
        subject = f"New conversation from {visitor}: {title}"
        intro = f"{visitor} started a conversation and nobody has answered yet:"
    else:
        subject = f"Unread message from {visitor}: {title}"
        intro = f"{visitor} wrote and nobody has answered yet:"
    text = [intro, ""]
    parts = [f"<p>{html.escape(intro)}</p>"]
    for m in messages:
        text += [f"{when(m.created_at)}:", m.body, ""]
        parts.append(_quoted(when(m.created_at), m.body))
    text += [f"Answer in the inbox: {link}", "", f"Choose which emails you get: {preferences_link}"]
    parts += [
        _link(link, "Answer in the inbox"),
        _link(preferences_link, "Choose which emails you get", small=True),
    ]
    return _assemble(
        config,
        from_name=f"{visitor} (openplug)",
        to_name=to_name,
        to_email=to_email,
        subject=subject,
        thread=f"conversation.{conversation_key}.agent{dev_user_key}",
        idstring=f"a{conversation_key}",
        text=text,
        html_parts=parts,
        now=now,
        extra_headers={},
    )
