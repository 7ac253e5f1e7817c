"""A conversation that outlives the page, in headless Chromium with a real
SMTP server on each side: an anonymous visitor asks, leaves an email in the
widget ("Get replies by email") and closes the tab; the agent's reply reaches
them by mail; they answer from their mail client (through the server's own
SMTP listener, to the mail's Reply-To); back on the site the widget shows
the whole exchange."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

import pytest

from tests.conversations.helpers import agent_ok, agent_reply
from tests.e2e.conftest import HostSite, openplug_cli
from tests.e2e.test_widget import host_page, open_widget, page_url, send_first_message
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer, make_settings
from tests.mail.smtp_sink import SmtpSink

DOMAIN = "replies.shop.example"


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    s = SmtpSink().start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mail_server(
    tmp_path_factory: pytest.TempPathFactory, host_site: HostSite, sink: SmtpSink, browser: Any
) -> Iterator[LiveServer]:
    settings = make_settings(tmp_path_factory.mktemp("continuity"), None)
    settings.smtp_url = sink.url
    settings.mail_from = f"Shop Support <support@{DOMAIN}>"
    settings.mail_inbound_domain = DOMAIN
    settings.smtp_inbound_port = 0  # any free port; the listener says which
    settings.outbox_poll_seconds = 0.05
    server = LiveServer(settings).start()
    try:
        openplug_cli(
            server.settings.data_dir, "apps", "update", server.app_id,
            "--origin", server.base_url, "--origin", host_site.origin,
        )  # fmt: skip
        # Mail as soon as a reply is unseen: the visitor has left already.
        agent_ok(server, "/apps.update", {"app_id": server.app_id, "mail_delay_seconds": 0})
        yield server
    finally:
        server.stop()


def test_an_anonymous_visitor_gets_the_reply_by_mail_answers_it_and_finds_it_all_on_the_site(
    mail_server: LiveServer, host_site: HostSite, sink: SmtpSink, browser: Any
) -> None:
    from playwright.sync_api import expect

    server = mail_server
    url = page_url(host_site, host_page(server))
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        frame = open_widget(page)
        send_first_message(frame, "Do you ship to Norway?")
        expect(frame.locator(".msg.mine .body")).to_have_text(["Do you ship to Norway?"])
        expect(frame.get_by_text("Get replies by email")).to_be_visible()
        frame.get_by_label("Email for replies").fill("fjord@example.com")
        frame.get_by_role("button", name="Save email").click()
        expect(frame.locator("#plug-mail-address")).to_have_text(
            "Replies also go to f…@example.com"
        )
        page.close()  # the tab is gone; the context keeps the visitor's storage

        (conversation,) = agent_ok(server, "/conversations.list", {})["conversations"]
        agent_reply(server, conversation["id"], "Yes, in 3 to 5 days.")

        (mail,) = sink.wait_for(1)
        assert mail.recipients == ["fjord@example.com"]
        assert "Yes, in 3 to 5 days." in mail.message.get_body(("plain",)).get_content()
        reply_address = str(mail.message["Reply-To"])
        assert reply_address.startswith("reply+") and reply_address.endswith(f"@{DOMAIN}")
        REGISTRY.add("reply-address token", reply_address.partition("@")[0])
        assert mail.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

        # The visitor answers from their mail client, quoting as clients do.
        answer = EmailMessage()
        answer["From"] = "Fjord <fjord@example.com>"
        answer["To"] = reply_address
        answer["Subject"] = f"Re: {mail.message['Subject']}"
        answer["Message-ID"] = make_msgid(domain="example.com")
        answer["In-Reply-To"] = str(mail.message["Message-ID"])
        answer.set_content(
            "Perfect, ordering now.\n\nOn Monday, Shop Support wrote:\n> Yes, in 3 to 5 days.\n"
        )
        assert server.app is not None
        with smtplib.SMTP("127.0.0.1", int(server.app.state.inbound_smtp.port), timeout=10) as smtp:
            smtp.send_message(answer, from_addr="fjord@example.com", to_addrs=[reply_address])

        # Back on the site, days later in the same browser: it is all there.
        page = context.new_page()
        page.goto(url)
        frame = open_widget(page)
        frame.locator(".conv").filter(has_text="Do you ship to Norway?").click()
        expect(frame.locator(".msg .body")).to_have_text(
            ["Do you ship to Norway?", "Yes, in 3 to 5 days.", "Perfect, ordering now."]
        )
        expect(frame.locator(".msg.mine .body")).to_have_text(
            ["Do you ship to Norway?", "Perfect, ordering now."]
        )
    finally:
        context.close()
