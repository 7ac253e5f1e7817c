"""Visitor continuity over a real SMTP server: an identified visitor who
left gets one mail per burst of agents' replies, with a reply address and
a one-click unsubscribe; what they saw in time is not mailed; an SMTP
outage across a restart delays mail but loses and repeats none."""

from __future__ import annotations

import httpx
import pytest

from openplug.mail.addresses import parse_reply_address, reply_token_matches
from tests.backends import postgres_database
from tests.conversations.helpers import agent_ok, agent_reply, start_conversation, widget_ok
from tests.mail import outbox_probe
from tests.mail.conftest import DOMAIN, Setup, identified_visitor, set_delay, start_server
from tests.mail.smtp_sink import SmtpSink


def test_one_mail_per_burst_with_reply_to_and_unsubscribe(setup: Setup) -> None:
    server, sink = setup.server, setup.sink
    set_delay(server, 3600)
    before = len(sink.received)
    token = identified_visitor(server, "mira", "Mira@Example.com")
    conversation = start_conversation(server, token, "My invoice is wrong")
    agent_reply(server, conversation["id"], "Sorry about that! Looking now.")
    agent_reply(server, conversation["id"], "Fixed: <b>refund</b> on its way & thanks")

    digests = [j for j in outbox_probe.jobs(server, "mail.visitor_digest") if j.state == "pending"]
    assert len(digests) == 1, "two replies in a burst are one digest"
    waited = digests[0].due_at - digests[0].created_at
    assert 3599 <= waited.total_seconds() <= 3601, "due after the app's delay"

    outbox_probe.make_due(server)
    outbox_probe.wait_idle(server)
    mails = sink.wait_for(before + 1)[before:]
    assert len(mails) == 1
    mail = mails[0]
    assert mail.recipients == ["Mira@example.com"]  # as identify stored it
    message = mail.message
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Sorry about that! Looking now." in text and "<b>refund</b> on its way & thanks" in text
    assert "&lt;b&gt;refund&lt;/b&gt; on its way &amp; thanks" in html and "<b>refund" not in html
    assert message["Subject"] == "Re: My invoice is wrong"
    assert message["Auto-Submitted"] == "auto-generated"

    token_in_mail = parse_reply_address(str(message["Reply-To"]), DOMAIN)
    assert token_in_mail is not None
    assert token_in_mail.conversation_key == int(conversation["display_id"].rsplit("-", 1)[1])
    runtime = server.runtime
    assert runtime is not None
    pepper = runtime.secrets.token_pepper
    assert reply_token_matches(pepper, token_in_mail, "mira@example.com")
    assert not reply_token_matches(pepper, token_in_mail, "someone@else.com")

    unsubscribe = str(message["List-Unsubscribe"]).strip().strip("<>")
    assert unsubscribe.startswith(server.base_url + "/mail/unsubscribe?token=")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    # The same mail is in Settings -> Email, marked sent.
    listed = agent_ok(server, "/outgoing-mail.list", {"conversation": conversation["id"]})["mails"]
    assert [m["state"] for m in listed] == ["sent"]
    assert listed[0]["message_id"] == message["Message-ID"]

    # One-click unsubscribe (RFC 8058): nothing more is mailed.
    page = httpx.get(unsubscribe)
    assert page.status_code == 200 and "<form" in page.text, "GET only asks"
    done = httpx.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.text
    agent_reply(server, conversation["id"], "Anything else?")
    outbox_probe.make_due(server)
    last = outbox_probe.wait_idle(server)[-1]
    assert (last.kind, last.state) == ("mail.visitor_digest", "dropped")
    assert len(sink.received) == before + 1


def test_what_the_visitor_saw_in_time_is_not_mailed(setup: Setup) -> None:
    server, sink = setup.server, setup.sink
    set_delay(server, 3600)
    before = len(sink.received)
    token = identified_visitor(server, "sam", "sam@example.com")
    conversation = start_conversation(server, token, "hello")
    agent_reply(server, conversation["id"], "hi Sam")
    widget_ok(server, token, "conversations.mark-read", conversation=conversation["id"])
    outbox_probe.make_due(server)
    last = outbox_probe.wait_idle(server)[-1]
    assert (last.kind, last.state) == ("mail.visitor_digest", "dropped")
    assert len(sink.received) == before


def test_a_bad_unsubscribe_link_changes_nothing(setup: Setup) -> None:
    server = setup.server
    for token in ("", "u1-aaaaaaaaaaaaaaaaaaaaaaaaaa", "u\u0661-abc", "u1-" + "mz" * 2500):
        r = httpx.post(f"{server.base_url}/mail/unsubscribe", params={"token": token})
        assert r.status_code == 404, token


def test_outage_and_restart_lose_and_repeat_nothing(setup: Setup) -> None:
    server, sink = setup.server, setup.sink
    set_delay(server, 0)
    before = len(sink.received)
    token = identified_visitor(server, "olga", "olga@example.com")
    conversation = start_conversation(server, token, "anyone there?")
    sink.stop()
    agent_reply(server, conversation["id"], "Yes, here!")
    # The mail is composed and its sending fails (connection refused) ...
    outbox_probe.wait_for_retries(server, "mail.send", 2)
    # ... and openplug restarts while the SMTP server is still down.
    server.stop()
    restarted = start_server(setup.data_dir, setup.database_url, sink)
    restarted.first = server.first  # the credentials of the first start
    setup.server = server = restarted
    outbox_probe.wait_for_retries(server, "mail.send", 3)
    sink.start()
    outbox_probe.make_due(server)
    outbox_probe.wait_idle(server)
    mails = sink.wait_for(before + 1)[before:]
    assert (
        len(mails) == 1
        and "Yes, here!" in mails[0].message.get_body(preferencelist=("plain",)).get_content()
    )
    sent = agent_ok(server, "/outgoing-mail.list", {"conversation": conversation["id"]})["mails"]
    assert [m["state"] for m in sent] == ["sent"]


MAILS = 40


def test_two_processes_send_each_mail_once(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Two servers on one PostgreSQL, both workers polling the same outbox;
    more mails than one claim takes (20), so both claim while the other does."""
    sink = SmtpSink().start()
    with postgres_database() as url:
        data_dir = tmp_path_factory.mktemp("mail-two")
        first = start_server(data_dir, url, sink)
        second = start_server(data_dir, url, sink)
        second.first = first.first
        try:
            set_delay(first, 3600)
            for i in range(MAILS):
                token = identified_visitor(first, f"pair-{i}", f"pair-{i}@example.com")
                conversation = start_conversation(first, token, "hi")
                agent_reply(second if i % 2 else first, conversation["id"], f"answer {i}")
            outbox_probe.make_due(first)
            outbox_probe.wait_idle(first)
            received = sink.wait_for(MAILS)
            assert sorted(r.recipients[0] for r in received) == sorted(
                f"pair-{i}@example.com" for i in range(MAILS)
            )
            assert len({r.message["Message-ID"] for r in received}) == MAILS
            assert len(outbox_probe.jobs(first, "mail.send")) == MAILS
        finally:
            second.stop()
            first.stop()
            sink.stop()


def test_a_note_is_never_mailed_to_the_visitor(setup: Setup) -> None:
    """An internal note schedules no visitor mail, and a mail about a later
    reply leaves the note out."""
    server, sink = setup.server, setup.sink
    set_delay(server, 3600)
    before = len(sink.received)
    token = identified_visitor(server, "nora", "nora@example.com")
    conversation = start_conversation(server, token, "where is my parcel?")
    note = {"object": conversation["id"], "type": "timeline_comment", "visibility": "internal"}
    agent_ok(server, "/timeline-entries.create", {**note, "body": "Carrier lost it, do not say"})
    digests = [j for j in outbox_probe.jobs(server, "mail.visitor_digest") if j.state == "pending"]
    assert digests == [], "a note is nothing to mail the visitor about"

    agent_reply(server, conversation["id"], "It is on its way again")
    agent_ok(server, "/timeline-entries.create", {**note, "body": "Second secret note"})
    outbox_probe.make_due(server)
    outbox_probe.wait_idle(server)
    (mail,) = [r for r in sink.received[before:] if r.recipients == ["nora@example.com"]]
    raw = mail.message.as_string()
    text = mail.message.get_body(preferencelist=("plain",)).get_content()
    assert "It is on its way again" in text
    assert "Carrier lost it" not in raw and "Second secret note" not in raw
