"""Agents' notification mails over a real SMTP server: a question nobody
answered reaches by mail each agent who chose it and has no inbox open,
with a link straight to it; "only mine" follows assignment; an open inbox
or an answer in time means no mail."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from sqlalchemy import update

from openplug.audit import SYSTEM
from openplug.db import Database
from openplug.identity.dev_users import create_dev_user
from openplug.identity.tables import dev_users
from tests.conversations.helpers import agent_ok, agent_reply, start_conversation, widget_ok
from tests.live_server import TLS, LiveServer
from tests.mail import outbox_probe
from tests.mail.conftest import Setup, identified_visitor

PASSWORD = "correct horse battery staple"


def add_agent(server: LiveServer, email: str, preference: str) -> int:
    async def make() -> int:
        db = Database(server.database_url)
        try:
            async with db.write() as conn:
                agent = await create_dev_user(
                    conn, email, email.split("@")[0].title(), "agent", password=PASSWORD,
                    actor=SYSTEM,
                )  # fmt: skip
                await conn.execute(
                    update(dev_users)
                    .where(dev_users.c.id == agent.pk)
                    .values(mail_notifications=preference)
                )
                return agent.pk
        finally:
            await db.dispose()

    return asyncio.run(make())


def mails_to(setup: Setup, email: str) -> list[Any]:
    return [r.message for r in setup.sink.received if r.recipients == [email]]


def run_outbox(setup: Setup) -> None:
    outbox_probe.make_due(setup.server)
    outbox_probe.wait_idle(setup.server)


def test_unanswered_questions_reach_the_agents_who_chose_them(setup: Setup) -> None:
    server = setup.server
    tag = setup.data_dir.name[-6:]
    everyone = f"every-{tag}@example.com"
    mine = f"mine-{tag}@example.com"
    nothing = f"none-{tag}@example.com"
    add_agent(server, everyone, "all")
    mine_key = add_agent(server, mine, "mine")
    add_agent(server, nothing, "none")
    token = identified_visitor(server, f"asker-{tag}", f"asker-{tag}@example.com")
    conversation = start_conversation(server, token, "Is the API rate limited?")
    run_outbox(setup)

    [mail] = mails_to(setup, everyone)
    assert mail["Subject"] == f"New conversation from asker-{tag}: Is the API rate limited?"
    text = mail.get_body(preferencelist=("plain",)).get_content()
    key = conversation["display_id"].split("-")[1]
    assert "Is the API rate limited?" in text
    assert f"{server.base_url}/inbox?c={key}" in text
    assert mails_to(setup, mine) == [] and mails_to(setup, nothing) == []

    # Assigned to the "only mine" agent, the next unread message is theirs too.
    agent_ok(server, "/conversations.update",
             {"id": conversation["id"], "owned_by": {"set": [f"DEVU-{mine_key}"]}})  # fmt: skip
    widget_ok(server, token, "messages.create", conversation=conversation["id"], body="Hello?")
    run_outbox(setup)
    assert [m["Subject"] for m in mails_to(setup, mine)] == [
        f"New conversation from asker-{tag}: Is the API rate limited?"
    ]
    again = mails_to(setup, everyone)
    assert len(again) == 2 and again[1]["Subject"].startswith("Unread message from")
    assert "Hello?" in again[1].get_body(preferencelist=("plain",)).get_content()
    assert (
        "Is the API rate limited?" not in again[1].get_body(preferencelist=("plain",)).get_content()
    ), "what was mailed before is not mailed again"
    assert mails_to(setup, nothing) == []


def test_an_answer_in_time_or_an_open_inbox_means_no_mail(setup: Setup) -> None:
    server = setup.server
    tag = setup.data_dir.name[-6:]
    watching = f"watching-{tag}@example.com"
    add_agent(server, watching, "all")
    # Signed in, the inbox page asks who it is: the sign-in is in use.
    with httpx.Client(verify=TLS, base_url=server.base_url) as inbox:
        r = inbox.post("/inbox/sign-in", json={"email": watching, "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert inbox.get("/inbox/me", headers={"X-OpenPlug-Inbox": "1"}).status_code == 200
    token = identified_visitor(server, f"quick-{tag}", f"quick-{tag}@example.com")
    start_conversation(server, token, "first question")
    answered = start_conversation(server, token, "second question")
    agent_reply(server, answered["id"], "answered right away")
    before = len(setup.sink.received)
    run_outbox(setup)
    assert mails_to(setup, watching) == [], "told in the open inbox"
    assert server.first is not None
    admin = server.first.admin_email
    to_admin = [r for r in setup.sink.received[before:] if r.recipients == [admin]]
    subjects = [r.message["Subject"] for r in to_admin]
    assert any("first question" in s for s in subjects), "the admin has no inbox open"
    assert not any("second question" in s for s in subjects), "answered in time"


def test_a_note_is_no_answer_to_the_visitor(setup: Setup) -> None:
    """An agent's internal note does not stop the other agents' mail about
    a question the visitor is still waiting on."""
    server = setup.server
    tag = setup.data_dir.name[-6:]
    colleague = f"colleague-{tag}@example.com"
    add_agent(server, colleague, "all")
    token = identified_visitor(server, f"noted-{tag}", f"noted-{tag}@example.com")
    waiting = start_conversation(server, token, f"still waiting {tag}")
    agent_ok(server, "/timeline-entries.create", {
        "object": waiting["id"], "type": "timeline_comment", "body": "looking, not answering",
        "visibility": "internal"})  # fmt: skip
    run_outbox(setup)
    subjects = [m["Subject"] for m in mails_to(setup, colleague)]
    assert any(f"still waiting {tag}" in s for s in subjects), subjects
