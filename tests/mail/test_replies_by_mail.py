"""Replies by mail, end to end: a real SMTP client (smtplib) to the server's
own listener on loopback, and the webhook over real HTTP, on SQLite and
PostgreSQL. A reply lands live in the inbox and the widget; everything
refused or dropped leaves the database as it was."""

from __future__ import annotations

import asyncio
import secrets
import smtplib
from collections.abc import Iterator
from contextlib import ExitStack
from email.message import EmailMessage

import httpx
import pytest

from openplug.conversations.service import MAX_BODY_CHARS
from openplug.mail.inbound import CLIPPED_NOTE
from tests.backends import postgres_database
from tests.conversations.helpers import agent_ok, agent_reply, anonymous_session, widget_ok
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer, make_settings
from tests.mail.helpers import (
    QUOTED,
    Visitor,
    compose,
    identified_visitor,
    on_the_wire,
    reply_to,
    send_smtp,
    smtp_port,
    start_conversation,
    stored,
)
from tests.realtime.test_sockets import agent_socket, conv_topic, key_of, visitor_socket

SECRET = secrets.token_urlsafe(32)
REGISTRY.add("mail webhook secret", SECRET)
MAX_MAIL = 256 * 1024  # over the 64 KiB of every other call
LONG_LINES = ("x" * 70 + "\n") * 1000  # 71,000 characters


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mail_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else None
        settings = make_settings(tmp_path_factory.mktemp("mail"), url)
        settings.smtp_inbound_port = 0  # any free port; the listener says which
        settings.mail_inbound_domain = "reply.example.test"
        settings.mail_inbound_secret = SECRET
        settings.max_inbound_mail_bytes = MAX_MAIL
        server = LiveServer(settings).start()
        stack.callback(server.stop)
        yield server


def visitor(server: LiveServer) -> Visitor:
    name = secrets.token_hex(4)
    v = identified_visitor(server, f"mailer-{name}", f"Visitor.{name}@Example.com")
    agent_reply(server, v.conversation["id"], "It has shipped.")
    return v


# --- the SMTP listener ------------------------------------------------------------------


async def test_a_reply_lands_live_in_the_inbox_and_the_widget_and_reopens(
    mail_server: LiveServer,
) -> None:
    server = mail_server
    v = visitor(server)
    agent_ok(server, "/conversations.update", {"id": v.conversation["id"], "status": "resolved"})
    topic = conv_topic(v.conversation)
    text = "Thanks, it arrived!\n\nOne more question: can I return it?"
    signature = "\n\n-- \nA Visitor\nVisitor Corp, 1 Main Street"
    # From in another case than on file: addresses compare without case.
    mail = compose(f"A Visitor <{v.email.lower()}>", reply_to(server, v), text + signature + QUOTED)
    async with visitor_socket(server, v.token) as widget, agent_socket(server) as inbox:
        await widget.subscribe(topic)
        await inbox.subscribe(topic)
        await send_smtp(server, mail)
        seen_by_visitor = await widget.event("message.created", topic, seq=3)
        seen_by_agent = await inbox.event("message.created", topic, seq=3)
    for event in (seen_by_visitor, seen_by_agent):
        assert event["message"]["body"] == text
        assert event["message"]["author"]["id"] == v.user_id
        assert event["message"]["from_agent"] is False
    conversation = agent_ok(server, "/conversations.get", {"id": v.conversation["id"]})
    assert conversation["conversation"]["status"] == "open"
    assert await stored(server, v) == (3, 1)


async def test_refused_and_robot_mail_store_nothing(mail_server: LiveServer) -> None:
    server = mail_server
    v = visitor(server)
    address = reply_to(server, v)
    before = await stored(server, v)

    # An altered token: refused at RCPT, before any data.
    mac_at = address.index("-") + 1
    altered = address[:mac_at] + ("a" if address[mac_at] != "a" else "b") + address[mac_at + 1 :]
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send_smtp(server, compose(v.email, altered, "hello"))
    ((code, reason),) = refused.value.recipients.values()
    assert code == 550 and b"unknown or no longer valid" in reason
    # Not a reply address, another domain: refused at RCPT too.
    for elsewhere in ("support@reply.example.test", "someone@elsewhere.example"):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await send_smtp(server, compose(v.email, elsewhere, "hello"))

    # The right address, from someone else's mailbox: refused after DATA.
    with pytest.raises(smtplib.SMTPDataError) as refused_data:
        await send_smtp(server, compose("intruder@example.com", address, "let me in"))
    assert refused_data.value.smtp_code == 550
    assert b"not the address this reply address was issued to" in refused_data.value.smtp_error

    # Nothing but the quoted mail.
    with pytest.raises(smtplib.SMTPDataError) as empty:
        await send_smtp(server, compose(v.email, address, QUOTED.lstrip()))
    assert empty.value.smtp_code == 550

    # Robots: accepted (so no bounce goes back to them) and dropped.
    out_of_office = compose(v.email, address, "I am out of the office until Monday.",
                            headers={"Auto-Submitted": "auto-replied"})  # fmt: skip
    await send_smtp(server, out_of_office)
    await send_smtp(server, bounce(address), sender="<>")
    assert await stored(server, v) == before


def bounce(address: str) -> EmailMessage:
    """A delivery status notification, as an MTA sends one (RFC 3464)."""
    report = EmailMessage()
    report["From"] = "Mail Delivery System <MAILER-DAEMON@visitor.example>"
    report["To"] = address
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.set_content("Your message could not be delivered.")
    status = EmailMessage()
    status.set_content("Reporting-MTA: dns; visitor.example\n\nFinal-Recipient: rfc822; x@y\n"
                       "Action: failed\nStatus: 5.1.1\n")  # fmt: skip
    report.add_attachment(status)
    report.replace_header("Content-Type", 'multipart/report; report-type=delivery-status; '
                          f'boundary="{report.get_boundary()}"')  # fmt: skip
    return report


async def test_a_message_over_the_limit_is_refused_at_data(mail_server: LiveServer) -> None:
    server = mail_server
    v = visitor(server)
    before = await stored(server, v)
    raw = on_the_wire(compose(v.email, reply_to(server, v), LONG_LINES * 4))
    assert len(raw) > MAX_MAIL
    with smtplib.SMTP("127.0.0.1", smtp_port(server), timeout=10) as smtp:
        smtp.ehlo()
        assert smtp.has_extn("size") and int(smtp.esmtp_features["size"]) == MAX_MAIL
        assert smtp.mail(v.email)[0] == 250  # no SIZE given: only DATA can tell
        assert smtp.rcpt(reply_to(server, v))[0] == 250
        code, _ = smtp.data(raw)
    assert code == 552
    assert await stored(server, v) == before


async def test_a_relay_retrying_the_same_message_id_posts_once(mail_server: LiveServer) -> None:
    server = mail_server
    v = visitor(server)
    mail = compose(v.email, reply_to(server, v), "Posted once, delivered twice.")
    await send_smtp(server, mail)
    await send_smtp(server, mail)
    # A retry after the Received headers changed is still the same message.
    mail["Received"] = "from relay2.example by mx.example; Tue, 2 Dec 2025 10:01:00 +0000"
    await send_smtp(server, mail)
    assert await stored(server, v) == (3, 1)


# --- the webhook ------------------------------------------------------------------------


def webhook(server: LiveServer, raw: bytes, secret: str | None = SECRET) -> httpx.Response:
    headers = {"Content-Type": "message/rfc822"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    with server.client() as c:
        return c.post("/mail/inbound", content=raw, headers=headers)


async def test_the_webhook_takes_an_anonymous_visitors_reply_to_the_email_they_left(
    mail_server: LiveServer,
) -> None:
    server = mail_server
    session = anonymous_session(server)
    conversation = start_conversation(server, session["session_token"], "anyone there?")
    agent_reply(server, conversation["id"], "Yes! How can we help?")
    user_key = key_of(session["user"]["id"])
    claim = f"anon-{secrets.token_hex(4)}@example.com"
    await server.sql(
        "INSERT INTO visitor_mail (rev_user_id, email_claim, claimed_at)"
        " VALUES (:u, :e, CURRENT_TIMESTAMP)", u=user_key, e=claim,
    )  # fmt: skip
    v = Visitor(session["session_token"], session["user"]["id"], claim, conversation)
    # HTML only, with a quote and a big attachment: over the 64 KiB that
    # every other call may send.
    mail = EmailMessage()
    mail["From"], mail["Delivered-To"] = claim, reply_to(server, v)
    mail["To"], mail["Message-ID"] = "Support <support@example.com>", "<webhook-1@example.com>"
    html = (
        "<p>Where is <b>my</b> parcel?</p>"
        "<div>On Tue, Support wrote:<blockquote>Yes! How can we help?</blockquote></div>"
    )
    mail.set_content(html, subtype="html")
    mail.add_attachment(secrets.token_bytes(100_000), maintype="application", subtype="pdf")
    raw = bytes(mail)
    assert 64 * 1024 < len(raw) < MAX_MAIL

    r = webhook(server, raw)
    assert (r.status_code, r.json()) == (202, {"outcome": "posted"})
    entries = agent_ok(server, "/timeline-entries.list", {"object": conversation["id"]})
    newest = entries["timeline_entries"][0]
    assert newest["body"] == "Where is my parcel?"
    assert newest["created_by"]["id"] == v.user_id
    again = webhook(server, raw)
    assert (again.status_code, again.json()) == (202, {"outcome": "duplicate"})
    assert await stored(server, v) == (3, 1)


async def test_the_webhook_needs_its_secret_and_names_what_it_refuses(
    mail_server: LiveServer,
) -> None:
    server = mail_server
    v = visitor(server)
    raw = bytes(compose(v.email, reply_to(server, v), "hello"))
    for secret in (None, "wrong", SECRET + "x"):
        r = webhook(server, raw, secret)
        assert r.status_code == 401 and r.json()["type"] == "unauthenticated", r.text
    with server.client() as c:
        r = c.post("/mail/inbound", content=raw, headers={"Authorization": f"Bearer {SECRET}"})
    assert r.status_code == 400 and r.json()["field_name"] == "Content-Type"
    other = webhook(server, bytes(compose("intruder@example.com", reply_to(server, v), "hi")))
    assert other.status_code == 400 and other.json()["field_name"] == "From", other.text
    too_big = webhook(server, bytes(compose(v.email, reply_to(server, v), LONG_LINES * 4)))
    assert too_big.status_code == 413
    assert await stored(server, v) == (2, 0)


def test_without_a_secret_the_webhook_does_not_exist(server: LiveServer) -> None:
    r = webhook(server, b"From: a@b.example\r\n\r\nhello")
    with server.client() as c:
        unknown = c.post("/mail/elsewhere")
    assert r.status_code == 404
    assert r.json() == unknown.json()


async def test_a_long_reply_is_clipped_with_a_note(mail_server: LiveServer) -> None:
    server = mail_server
    v = visitor(server)
    words = ("All of this matters. " * 4).strip() + "\n"
    words *= 200  # 16,800 characters
    r = webhook(server, on_the_wire(compose(v.email, reply_to(server, v), words)))
    assert r.status_code == 202, r.text
    entries = agent_ok(server, "/timeline-entries.list", {"object": v.conversation["id"]})
    body = entries["timeline_entries"][0]["body"]
    assert len(body) <= MAX_BODY_CHARS and body.startswith(words[:5000])
    assert body.endswith(CLIPPED_NOTE.format(limit=MAX_BODY_CHARS))


async def test_an_anonymous_visitor_who_signed_in_since_replies_as_who_they_became(
    mail_server: LiveServer,
) -> None:
    """Their conversations moved to the identified visitor at the merge; the
    address in the mail they got before still works, as them."""
    server = mail_server
    session = anonymous_session(server)
    conversation = start_conversation(server, session["session_token"], "before signing in")
    claim = f"anon-{secrets.token_hex(4)}@example.com"
    await server.sql(
        "INSERT INTO visitor_mail (rev_user_id, email_claim) VALUES (:u, :e)",
        u=key_of(session["user"]["id"]), e=claim,
    )  # fmt: skip
    anonymous = Visitor(session["session_token"], session["user"]["id"], claim, conversation)
    address = reply_to(server, anonymous)
    identified = identified_visitor(server, f"signed-in-{secrets.token_hex(4)}", claim)
    widget_ok(server, identified.token, "merge",
              anonymous_credential=session["anonymous_credential"])  # fmt: skip

    await send_smtp(server, compose(claim, address, "Replying to the old mail."))
    entries = agent_ok(server, "/timeline-entries.list", {"object": conversation["id"]})
    newest = entries["timeline_entries"][0]
    assert newest["body"] == "Replying to the old mail."
    assert newest["created_by"]["id"] == identified.user_id


async def test_deliveries_of_one_message_at_once_post_it_once(mail_server: LiveServer) -> None:
    """Two relays (or a provider's parallel retries) at the same moment: all
    pass the first look for the Message-ID, and the posting transactions
    decide."""
    server = mail_server
    v = visitor(server)
    raw = on_the_wire(compose(v.email, reply_to(server, v), "Sent once, arrived five times."))
    headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "message/rfc822"}
    async with server.async_client() as c:
        answers = await asyncio.gather(
            *(c.post("/mail/inbound", content=raw, headers=headers) for _ in range(5))
        )
    outcomes = sorted(r.json()["outcome"] for r in answers)
    assert outcomes == ["duplicate"] * 4 + ["posted"], [r.text for r in answers]
    assert await stored(server, v) == (3, 1)
