"""Mail settings as the mail room uses them: the SMTP URL taken apart once,
at start, so a wrong one stops the server with a clear message instead of
failing every send."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.headerregistry import Address
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from openplug.settings import Settings

DEFAULT_FROM_LOCAL = "support"


class MailConfigError(ValueError):
    """A mail setting that cannot work; the message names the variable."""


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    username: str | None
    # Never logged or shown; repr leaves it out.
    password: str | None = field(repr=False)
    use_tls: bool  # TLS from the first byte (smtps://)
    # None: STARTTLS if the server offers it; True: insist; False: never.
    start_tls: bool | None


@dataclass(frozen=True)
class MailConfig:
    smtp: SmtpServer | None
    sender: Address
    inbound_domain: str


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise MailConfigError("OPENPLUG_SMTP_URL: the scheme must be smtp:// or smtps://")
    if not parts.hostname:
        raise MailConfigError("OPENPLUG_SMTP_URL: no host")
    try:
        port = parts.port
    except ValueError:
        raise MailConfigError("OPENPLUG_SMTP_URL: the port is not a number") from None
    options = parse_qs(parts.query)
    starttls = options.get("starttls", ["auto"])[-1]
    if starttls not in ("auto", "required", "off"):
        raise MailConfigError("OPENPLUG_SMTP_URL: starttls must be auto, required or off")
    tls = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=port or (465 if tls else 587),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=tls,
        start_tls=None if tls or starttls == "auto" else starttls == "required",
    )


def _sender(settings: Settings) -> Address:
    if settings.mail_from:
        name, address = parseaddr(settings.mail_from)
        local, at, domain = address.rpartition("@")
        if not at or not local or not domain:
            raise MailConfigError("OPENPLUG_MAIL_FROM: not an email address")
        return Address(display_name=name, username=local, domain=domain)
    host = settings.mail_inbound_domain or "localhost"
    return Address(display_name="openplug", username=DEFAULT_FROM_LOCAL, domain=host)


def mail_config(settings: Settings) -> MailConfig:
    smtp = parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
    sender = _sender(settings)
    return MailConfig(
        smtp=smtp,
        sender=sender,
        inbound_domain=(settings.mail_inbound_domain or sender.domain).lower(),
    )
