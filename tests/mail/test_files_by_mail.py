"""Files and mail: a file in a visitor's reply by mail becomes an artifact
of that message (under the upload rules; a refused one is left out and the
text still posts); a file in an agent's reply is linked, never attached,
in the visitor's mail, and the link works without a session until the
person is erased."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.artifacts.helpers import agent_upload, executable_bytes, pdf_bytes, png_with_gps
from tests.backends import database_url
from tests.conversations.helpers import agent_ok, agent_reply
from tests.leaks.registry import REGISTRY
from tests.live_server import LiveServer
from tests.mail import outbox_probe
from tests.mail.conftest import set_delay, start_server
from tests.mail.helpers import compose, identified_visitor, on_the_wire, reply_to
from tests.mail.smtp_sink import SmtpSink

SECRET = secrets.token_urlsafe(32)
REGISTRY.add("mail webhook secret", SECRET)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mailing(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, SmtpSink]]:
    with ExitStack() as stack:
        sink = SmtpSink().start()
        stack.callback(sink.stop)
        url = stack.enter_context(database_url(request.param))
        server = start_server(tmp_path_factory.mktemp("files-mail"), url, sink)
        stack.callback(server.stop)
        server.settings.mail_inbound_secret = SECRET
        server.settings.max_inbound_mail_bytes = 1024 * 1024
        yield server, sink


def webhook(server: LiveServer, raw: bytes) -> httpx.Response:
    headers = {"Content-Type": "message/rfc822", "Authorization": f"Bearer {SECRET}"}
    with server.client() as c:
        return c.post("/mail/inbound", content=raw, headers=headers)


def test_files_in_a_reply_by_mail_become_its_artifacts(
    mailing: tuple[LiveServer, SmtpSink],
) -> None:
    server, _ = mailing
    name = secrets.token_hex(4)
    v = identified_visitor(server, f"files-{name}", f"files.{name}@example.com")
    agent_reply(server, v.conversation["id"], "Can you send a screenshot?")
    mail = compose(v.email, reply_to(server, v), "Here it is.")
    mail.add_attachment(png_with_gps(), maintype="image", subtype="png", filename="shot.png")
    # Claims to be a PNG; is a program: left out, the text still posts.
    mail.add_attachment(executable_bytes(), maintype="image", subtype="png", filename="x.png")
    r = webhook(server, on_the_wire(mail))
    assert (r.status_code, r.json()) == (202, {"outcome": "posted"}), r.text

    newest = agent_ok(server, "/timeline-entries.list", {"object": v.conversation["id"]})[
        "timeline_entries"
    ][0]
    assert newest["body"] == "Here it is."
    (artifact,) = newest["artifacts"]
    assert artifact["file"]["name"] == "shot.png" and artifact["file"]["type"] == "image/png"
    assert httpx.get(artifact["url"]).content == png_with_gps()

    # Files alone are a reply too.
    only = compose(v.email, reply_to(server, v), "")
    only.add_attachment(pdf_bytes(), maintype="application", subtype="pdf", filename="a.pdf")
    r = webhook(server, on_the_wire(only))
    assert (r.status_code, r.json()) == (202, {"outcome": "posted"}), r.text
    newest = agent_ok(server, "/timeline-entries.list", {"object": v.conversation["id"]})[
        "timeline_entries"
    ][0]
    assert [a["file"]["name"] for a in newest["artifacts"]] == ["a.pdf"]

    # Nothing left to post (no text, every file refused): refused as empty.
    nothing = compose(v.email, reply_to(server, v), "")
    nothing.add_attachment(executable_bytes(), maintype="application", subtype="octet-stream",
                           filename="setup.exe")  # fmt: skip
    r = webhook(server, on_the_wire(nothing))
    assert r.status_code == 400, r.text
    assert "none of its files" in r.text


def test_an_agents_file_is_linked_in_the_visitors_mail(
    mailing: tuple[LiveServer, SmtpSink],
) -> None:
    server, sink = mailing
    set_delay(server, 3600)
    before = len(sink.received)
    name = secrets.token_hex(4)
    v = identified_visitor(server, f"linked-{name}", f"linked.{name}@example.com")
    prepared = agent_upload(server, "invoice.pdf", pdf_bytes(), "application/pdf")
    agent_ok(server, "/timeline-entries.create", {
        "object": v.conversation["id"], "body": "Your invoice", "artifacts": [prepared["id"]],
    })  # fmt: skip
    outbox_probe.make_due(server)
    outbox_probe.wait_idle(server)
    sink.wait_for(before + 1)
    (mail,) = [m for m in sink.received[before:] if m.recipients == [v.email]]
    message = mail.message
    assert not [p for p in message.walk() if p.get_filename()], "linked, not attached"
    text = message.get_body(preferencelist=("plain",)).get_content()
    line = next(x for x in text.splitlines() if x.startswith("File: invoice.pdf <"))
    link = line.split("<", 1)[1].rstrip(">")
    html = message.get_body(preferencelist=("html",)).get_content()
    assert link.replace("&", "&amp;") in html or link in html

    r = httpx.get(link)  # no session, no credential: the link is enough
    assert r.status_code == 200 and r.content == pdf_bytes()
    assert r.headers["content-disposition"].startswith("attachment;")

    # Erased, the person's links stop working with their conversation.
    agent_ok(server, "/rev-users.delete", {"id": v.user_id})
    assert httpx.get(link).status_code == 404
