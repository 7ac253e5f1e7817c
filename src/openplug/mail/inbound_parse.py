"""Reading an inbound mail: which reply address it is for, who sent it,
whether a robot did, and the visitor's new words without the quoted
history and the signature.

Pure and synchronous (no database, no network), so it runs in a worker
thread: parsing a message of several megabytes must not stall the event
loop. The standard library's ``email`` package (``policy.default``) does
the MIME; ``mail-parser-reply`` finds where the reply ends.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from html.parser import HTMLParser

from mailparser_reply import EmailMessage as ReplyText

from openplug.mail.addresses import ReplyToken, parse_reply_address

# Where a reply address may stand when the envelope is not known (a
# provider's webhook forwards only the message): the delivery headers an
# MTA adds first, then what the sender wrote.
RECIPIENT_HEADERS = ("Delivered-To", "X-Original-To", "To", "Cc")
# Human languages whose "On ... wrote:" lines and sign-offs the reply
# parser knows (its list also has one mail program's, "david").
REPLY_LANGUAGES = ["en", "de", "fr", "es", "it", "nl", "pl", "sv", "da", "cs", "ja", "ko", "zh"]
# The reply is at the top: past this, only quoted history and clipping
# remain, and the parser's work stays bounded whatever the mail's size.
MAX_PARSED_CHARS = 64_000
# RFC 3834 and the headers mail programs use instead (Precedence is older
# than RFC 3834 and still the most common). Not X-Auto-Response-Suppress:
# Exchange puts it on ordinary mail to ask *others* not to auto-reply, and
# treating it as a robot's mark drops people's replies (Discourse,
# osTicket and Redmine each had to take it out).
_ROBOT_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_ROBOT_FLAGS = ("X-Autoreply", "X-Autorespond")
_DAEMON = re.compile(r"^(mailer-daemon|postmaster)$", re.IGNORECASE)
# Control characters a chat message has no use for (tab and newline stay);
# NUL is also what PostgreSQL text cannot hold.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True)
class InboundMail:
    """What one raw message says, before anything is checked."""

    token: ReplyToken | None
    # Every address in From (a reply has exactly one).
    senders: tuple[str, ...]
    # Why a robot sent it, or None: then it is dropped, never answered.
    robot: str | None
    # Recognises a relay's retry: the Message-ID, or without one the body.
    dedupe_key: str
    # The reply with quotes and signature stripped; may be empty.
    text: str
    # Files sent with it (attachments, and inline images with a name).
    files: tuple[MailFile, ...] = ()


@dataclass(frozen=True)
class MailFile:
    name: str
    data: bytes


MAX_FILES = 20


def mail_files(mail: EmailMessage) -> tuple[MailFile, ...]:
    """The parts that are files: an attachment, or an inline part with a
    file name (a pasted screenshot); never the text or HTML body itself.
    Their declared types are ignored here: the artifacts room reads the
    bytes."""
    found: list[MailFile] = []
    for part in mail.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if not name and not part.is_attachment():
            continue
        try:
            content = part.get_content()
        except (LookupError, ValueError, AssertionError):
            continue  # an unknown charset or a broken encoding: not a file we can read
        data = content.encode() if isinstance(content, str) else bytes(content)
        if data:
            found.append(MailFile(name or "attachment", data))
        if len(found) >= MAX_FILES:
            break
    return tuple(found)


def read_inbound_mail(
    raw: bytes, domain: str, recipients: list[str], envelope_sender: str | None
) -> InboundMail:
    """``recipients``: the envelope's RCPT TO addresses, or empty when they
    are not known (then the headers are searched). ``envelope_sender``: the
    MAIL FROM address ("" for the null sender of a bounce), or None when
    not known (then ``Return-Path`` stands for it)."""
    # policy.default makes EmailMessage objects (get_body, get_content).
    mail = message_from_bytes(raw, policy=policy.default)
    return InboundMail(
        token=_find_token(mail, domain, recipients),
        senders=_addresses(mail, "From"),
        robot=robot_reason(mail, envelope_sender),
        dedupe_key=_dedupe_key(mail, raw),
        text=reply_text(mail),
        files=mail_files(mail),
    )


def _find_token(mail: EmailMessage, domain: str, recipients: list[str]) -> ReplyToken | None:
    candidates = list(recipients)
    if not candidates:
        for name in RECIPIENT_HEADERS:
            candidates.extend(_addresses(mail, name))
    for address in candidates:
        token = parse_reply_address(address, domain)
        if token is not None:
            return token
    return None


def _addresses(mail: EmailMessage, name: str) -> tuple[str, ...]:
    found: list[str] = []
    try:
        for header in mail.get_all(name) or []:
            parsed = getattr(header, "addresses", None)
            if parsed is not None:  # To, Cc, From: parsed by the email package
                found.extend(a.addr_spec for a in parsed)
            else:  # Delivered-To, X-Original-To: plain text to it
                found.extend(address for _, address in getaddresses([str(header)]))
    except Exception:
        # The email package parses headers lazily and a hostile one can make
        # it raise almost anything; a header too broken to read names nobody.
        return ()
    return tuple(a for a in found if a and a != "<>")


def robot_reason(mail: EmailMessage, envelope_sender: str | None) -> str | None:
    """Why this mail was sent by a program (an out-of-office reply, a
    bounce, a list), or None. Such mail is dropped: answering it, or
    posting it where an agent's reply would be mailed back, is how two
    robots mail each other forever."""
    auto = _first(mail, "Auto-Submitted")
    if auto is not None and auto.split(";", 1)[0].strip().lower() != "no":
        return "Auto-Submitted"
    for flag in _ROBOT_FLAGS:
        if _first(mail, flag) is not None:
            return flag
    precedence = _first(mail, "Precedence")
    if precedence is not None and precedence.strip().lower() in _ROBOT_PRECEDENCE:
        return "Precedence"
    try:
        content_type = mail.get_content_type()
    except Exception:  # see _addresses
        content_type = ""
    if content_type == "multipart/report":
        return "delivery report"
    sender = envelope_sender
    if sender is None:
        sender = _first(mail, "Return-Path")
    if sender is not None and sender.strip().strip("<>").strip() == "":
        return "null envelope sender"
    for address in _addresses(mail, "From"):
        if _DAEMON.match(address.rpartition("@")[0]):
            return "mailer daemon"
    return None


def _first(mail: EmailMessage, name: str) -> str | None:
    try:
        value = mail.get(name)
    except Exception:  # see _addresses
        return ""  # present, if unreadable
    return None if value is None else str(value)


def _dedupe_key(mail: EmailMessage, raw: bytes) -> str:
    """A digest: a Message-ID is the sender's text, of any length and any
    character, and a relay retrying keeps it (or, without one, the body)."""
    message_id = _first(mail, "Message-ID")
    if message_id and message_id.strip():
        source = b"id:" + message_id.strip().encode("utf-8", "surrogateescape")
    else:
        _, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
        source = b"body:" + body
    return hashlib.sha256(source).hexdigest()


# --- the text -------------------------------------------------------------------


def reply_text(mail: EmailMessage) -> str:
    """The visitor's new words: the plain-text part (else the HTML part as
    text), then the reply parser's first reply without its signature."""
    text = _body_text(mail)[:MAX_PARSED_CHARS]
    if not text.strip():
        return ""
    parsed = ReplyText(text=text, languages=list(REPLY_LANGUAGES), keep_hyphen_lists=True).read()
    first = parsed.replies[0] if parsed.replies else None
    # A mail that begins with the quote header ("On ... wrote:") has no
    # reply of its own: the first fragment is the quoted history.
    if first is None or first.headers:
        return ""
    return _without_trailing_quote(first.body)


def _body_text(mail: EmailMessage) -> str:
    try:
        part = mail.get_body(preferencelist=("plain", "html"))
    except Exception:  # a MIME tree too broken to walk (see _addresses)
        return ""
    if not isinstance(part, EmailMessage):
        return ""
    try:
        content = part.get_content()
    except Exception:
        # An unknown charset, mostly: the bytes as UTF-8, what most mail is.
        try:
            payload = part.get_payload(decode=True)
        except Exception:
            return ""
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        content = html_to_text(content)
    return clean_text(content)


def clean_text(text: str) -> str:
    """Newlines as ``\\n``, no control characters, valid Unicode only."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    return text.encode("utf-8", "replace").decode("utf-8")


def _without_trailing_quote(text: str) -> str:
    """Drop quoted lines (``>``) left at the end with no header line above
    them: history a mail program quoted without saying who wrote it."""
    lines = text.rstrip().split("\n")
    while lines and (lines[-1].startswith(">") or not lines[-1].strip()):
        lines.pop()
    return "\n".join(lines).strip()


_BLOCKS = frozenset(
    {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "hr"}
)
_SKIPPED = frozenset({"script", "style", "head", "title"})


class _TextOfHtml(HTMLParser):
    """HTML as the plain text a mail program would show: block elements on
    lines of their own, blockquotes quoted with ``>`` (as a plain-text
    reply quotes), scripts and styles left out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skipping = 0
        self._quote_depth = 0

    def _break(self) -> None:
        line = " ".join("".join(self._line).split())
        self._line = []
        if line or (self.lines and self.lines[-1]):
            self.lines.append(("> " * self._quote_depth + line).rstrip())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "blockquote":
            self._break()
            self._quote_depth += 1
        elif tag in _BLOCKS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "blockquote":
            self._break()
            self._quote_depth = max(0, self._quote_depth - 1)
        elif tag in _BLOCKS:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self._line.append(data)

    def text(self) -> str:
        self._break()
        return "\n".join(self.lines).strip()


def html_to_text(html: str) -> str:
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    return parser.text()
