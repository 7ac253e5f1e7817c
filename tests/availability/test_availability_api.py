"""Availability over HTTP, on SQLite and PostgreSQL: what ``apps.update``
takes and refuses, what the widget's ``config`` says, the away message
(once per conversation, after the visitor's message, live as the app's
team), and a visitor's own mail settings in the widget."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from openplug.availability import WEEKDAYS
from tests.backends import postgres_database
from tests.conftest import ServerFactory, make_settings
from tests.conversations.helpers import (
    agent_ok,
    anonymous_session,
    assert_error,
    identified_token,
    start_conversation,
    user_id_of,
    widget,
    widget_ok,
)
from tests.live_server import LiveServer
from tests.realtime.test_sockets import agent_socket, conv_topic, visitor_socket
from tests.test_cli import run

AWAY = "We're out right now and will answer in the morning."


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    with ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgresql" else None
        settings = make_settings(tmp_path_factory.mktemp("availability"), url)
        settings.new_visitors_per_address_per_hour = 0
        live = LiveServer(settings).start()
        stack.callback(live.stop)
        yield live


def hours_excluding_now() -> dict[str, Any]:
    """Office hours on one weekday three days from now: never now, in any zone."""
    day = WEEKDAYS[(datetime.now(UTC) + timedelta(days=3)).weekday()]
    return {day: [{"start": "09:00", "end": "10:00"}]}


def update_app(server: LiveServer, **fields: Any) -> httpx.Response:
    with server.client(server.pat) as c:
        return c.post("/apps.update", json={"app_id": server.app_id, **fields})


def set_app(server: LiveServer, **fields: Any) -> dict[str, Any]:
    r = update_app(server, **fields)
    assert r.status_code == 200, r.text
    return dict(r.json()["app"])


def away(server: LiveServer) -> None:
    set_app(server, time_zone="Asia/Tokyo", office_hours=hours_excluding_now(),
            reply_time="hours", away_message=AWAY)  # fmt: skip


def always_open(server: LiveServer) -> None:
    set_app(server, office_hours={}, away_message=AWAY)


def config(server: LiveServer) -> dict[str, Any]:
    r = httpx.post(f"{server.base_url}/widget/config", json={"app_id": server.app_id})
    assert r.status_code == 200, r.text
    return dict(r.json()["availability"])


# --- apps.update ----------------------------------------------------------------------


def test_apps_update_sets_availability_and_refuses_naming_the_field(server: LiveServer) -> None:
    app = set_app(
        server, time_zone="Europe/Berlin", reply_time="hour", away_message="Back soon",
        office_hours={"monday": [{"start": "09:00", "end": "17:30"}], "tuesday": [],
                      "friday": [{"start": "22:00", "end": "02:00"}]},
    )  # fmt: skip
    assert app["time_zone"] == "Europe/Berlin" and app["reply_time"] == "hour"
    assert app["office_hours"] == {"monday": [{"start": "09:00", "end": "17:30"}],
                                   "friday": [{"start": "22:00", "end": "02:00"}]}  # fmt: skip
    assert app["away_message"] == "Back soon"
    listed = agent_ok(server, "/apps.list", {})["apps"]
    assert next(a for a in listed if a["app_id"] == server.app_id) == app

    refused: list[tuple[dict[str, Any], str]] = [
        ({"office_hours": {"monday": [{"start": "9am", "end": "17:00"}]}},
         "office_hours.monday[0].start"),
        ({"office_hours": {"monday": [{"start": "09:00", "end": "17:00"},
                                      {"start": "18:00", "end": "18:00"}]}},
         "office_hours.monday[1].end"),
        ({"office_hours": {"mondey": [{"start": "09:00", "end": "17:00"}]}},
         "office_hours.mondey"),
        ({"office_hours": {"monday": [{"start": "09:00"}]}}, "office_hours.monday[0].end"),
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"reply_time": "week"}, "reply_time"),
    ]  # fmt: skip
    for fields, field_name in refused:
        r = update_app(server, **fields)
        assert r.status_code == 400, r.text
        assert r.json()["field_name"] == field_name, (fields, r.json())
    # Valid fields beside a bad one change nothing either.
    r = update_app(server, away_message="changed", time_zone="Nowhere/Else")
    assert r.status_code == 400
    assert agent_ok(server, "/apps.list", {})["apps"] == listed

    cleared = set_app(server, office_hours={}, reply_time="", away_message="")
    assert cleared["office_hours"] is None and cleared["reply_time"] is None
    assert cleared["away_message"] is None and cleared["time_zone"] == "Europe/Berlin"


def test_the_cli_sets_office_hours(make_server: ServerFactory) -> None:
    """On the default deployment (SQLite in the data directory the CLI is
    pointed at); the CLI shares apps.update's rules on every database."""
    server = make_server()
    done = run(server.settings.data_dir, "apps", "update", server.app_id,
               "--time-zone", "America/New_York",
               "--office-hours", "monday=09:00-12:00,13:00-17:00",
               "--office-hours", "saturday=10:00-14:00",
               "--reply-time", "day", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert '"America/New_York"' in done.stdout and '"13:00"' in done.stdout
    bad = run(server.settings.data_dir, "apps", "update", server.app_id,
              "--office-hours", "monday=09:00-9pm")  # fmt: skip
    assert bad.returncode != 0 and "office_hours.monday[0].end" in bad.stderr
    done = run(server.settings.data_dir, "apps", "update", server.app_id, "--always-open",
               "--reply-time", "")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert config(server)["open"] is True


# --- the widget ----------------------------------------------------------------------


def test_the_widget_config_says_whether_the_team_is_in(server: LiveServer) -> None:
    set_app(server, office_hours={}, reply_time="hour")
    assert config(server) == {"open": True, "next_open_at": None, "reply_time": "hour",
                              "reply_time_text": "Typically replies within an hour"}  # fmt: skip
    away(server)
    closed = config(server)
    assert closed["open"] is False and closed["reply_time"] == "hours"
    back = datetime.fromisoformat(closed["next_open_at"])
    assert timedelta(days=2) < back - datetime.now(UTC) < timedelta(days=4)
    assert back.astimezone(UTC).hour == 0  # 09:00 in Tokyo
    r = httpx.post(f"{server.base_url}/widget/config", json={"app_id": "app_nope"})
    assert_error(r, 400, "invalid_field", "app_id")


def _messages(server: LiveServer, token: str, conversation: dict[str, Any]) -> list[Any]:
    listed = widget_ok(server, token, "messages.list", conversation=conversation["id"])
    return list(listed["messages"])


def test_the_away_message_is_posted_once_per_conversation(server: LiveServer) -> None:
    away(server)
    token = anonymous_session(server)["session_token"]
    first = start_conversation(server, token, "anyone there?")
    posted = first["messages"]
    assert [m["body"] for m in posted] == ["anyone there?", AWAY]
    team = posted[1]
    assert team["seq"] == 2 and team["from_agent"] is True and team["mine"] is False
    assert team["author"]["type"] == "sys_user" and team["author"]["display_name"] == "Demo"
    widget_ok(server, token, "messages.create", conversation=first["id"], body="hello?")
    assert [m["body"] for m in _messages(server, token, first)] == [
        "anyone there?", AWAY, "hello?"
    ]  # fmt: skip
    # Agents see it as the team's: a sys_user, not an agent or the visitor.
    entries = agent_ok(server, "/timeline-entries.list", {"object": first["id"]})
    by = [e["created_by"]["type"] for e in entries["timeline_entries"]]
    assert sorted(by) == ["rev_user", "rev_user", "sys_user"]
    # Another conversation gets its own; inside office hours, none.
    assert len(start_conversation(server, token, "second question")["messages"]) == 2
    always_open(server)
    assert len(start_conversation(server, token, "in hours")["messages"]) == 1


async def test_the_away_message_arrives_live_after_the_visitors(server: LiveServer) -> None:
    always_open(server)
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "during the day")
    topic = conv_topic(conversation)
    async with visitor_socket(server, token) as visitor, agent_socket(server) as agent:
        await visitor.subscribe(topic)
        await agent.subscribe(topic)
        away(server)
        widget_ok(server, token, "messages.create", conversation=conversation["id"], body="late")
        for client in (visitor, agent):
            mine = await client.event("message.created", topic, seq=2)
            assert mine["message"]["body"] == "late"
            theirs = await client.event("message.created", topic, seq=3)
            assert theirs["message"]["body"] == AWAY
            assert theirs["message"]["author"]["type"] == "sys_user"
            assert theirs["message"]["author"]["display_name"] == "Demo"
        widget_ok(server, token, "messages.create", conversation=conversation["id"], body="again")
        again = await visitor.event("message.created", topic, seq=4)
        assert again["message"]["body"] == "again"
    assert len(_messages(server, token, conversation)) == 4


async def test_concurrent_messages_post_one_away_message(server: LiveServer) -> None:
    always_open(server)
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "before")
    away(server)
    async with server.async_client(token) as c:
        sent = await asyncio.gather(*(
            c.post("/widget/messages.create", json={"app_id": server.app_id,
                   "conversation": conversation["id"], "body": f"at once {i}"})
            for i in range(6)
        ))  # fmt: skip
    assert all(r.status_code == 201 for r in sent), [r.text for r in sent]
    bodies = [m["body"] for m in _messages(server, token, conversation)]
    assert bodies.count(AWAY) == 1 and len(bodies) == 8


# --- get replies by email -------------------------------------------------------------


async def _claim_row(server: LiveServer, user_id: str) -> Any:
    key = int(user_id.rsplit("/", 1)[-1])
    rows = await server.sql(
        "SELECT u.email, m.email_claim, m.unsubscribed_at FROM rev_users u"
        " LEFT JOIN visitor_mail m ON m.rev_user_id = u.id WHERE u.id = :k",
        k=key,
    )
    return rows[0]


def mail_settings(server: LiveServer, token: str) -> dict[str, Any]:
    return dict(widget_ok(server, token, "mail-settings.get")["mail_settings"])


def test_an_anonymous_visitor_leaves_an_email_and_resubscribes(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    user = user_id_of(token)
    assert mail_settings(server, token) == {
        "address": None, "address_source": None, "subscribed": True
    }  # fmt: skip
    r = widget(server, token, "mail-settings.update", email="not an address")
    assert_error(r, 400, "invalid_field", "email")
    r = widget(server, token, "mail-settings.update", email="x" * 300 + "@example.com")
    assert_error(r, 400, "invalid_field", "email")

    saved = widget_ok(server, token, "mail-settings.update", email=" Visitor@Example.com ")
    assert saved["mail_settings"] == {
        "address": "V…@example.com", "address_source": "claim", "subscribed": True
    }  # fmt: skip
    row = asyncio.run(_claim_row(server, user))
    assert row.email_claim == "Visitor@example.com" and row.email is None
    # Stored as a claim only: the CRM's user has no email and is not identified.
    profile = agent_ok(server, "/rev-users.get", {"id": user})["rev_user"]
    assert "email" not in profile and profile["is_verified"] is False

    # Unsubscribed (as the mail's one-click link does), then undone in the widget.
    asyncio.run(server.sql("UPDATE visitor_mail SET unsubscribed_at = CURRENT_TIMESTAMP"
                           " WHERE email_claim = 'Visitor@example.com'"))  # fmt: skip
    assert mail_settings(server, token)["subscribed"] is False
    back = widget_ok(server, token, "mail-settings.update", subscribed=True)
    assert back["mail_settings"]["subscribed"] is True
    assert asyncio.run(_claim_row(server, user)).unsubscribed_at is None
    off = widget_ok(server, token, "mail-settings.update", subscribed=False)
    assert off["mail_settings"]["subscribed"] is False
    assert asyncio.run(_claim_row(server, user)).unsubscribed_at is not None
    withdrawn = widget_ok(server, token, "mail-settings.update", email="")
    assert withdrawn["mail_settings"]["address"] is None


def test_an_identified_visitors_claim_never_touches_their_email(server: LiveServer) -> None:
    # Without an email trait: the claim is stored apart, the user unchanged.
    token = identified_token(server, "no-email-user")
    user = user_id_of(token)
    widget_ok(server, token, "mail-settings.update", email="someone@example.org")
    row = asyncio.run(_claim_row(server, user))
    assert (row.email, row.email_claim) == (None, "someone@example.org")
    assert "email" not in agent_ok(server, "/rev-users.get", {"id": user})["rev_user"]

    # With one: replies go there; the widget may only toggle them.
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {
            "user_ref": "has-email", "user_traits": {"email": "ada@example.com"}}})  # fmt: skip
    token = r.json()["access_token"]
    assert mail_settings(server, token) == {
        "address": "a…@example.com", "address_source": "email_trait", "subscribed": True
    }  # fmt: skip
    r = widget(server, token, "mail-settings.update", email="other@example.org")
    assert_error(r, 400, "invalid_field", "email")
    row = asyncio.run(_claim_row(server, user_id_of(token)))
    assert (row.email, row.email_claim) == ("ada@example.com", None)
    off = widget_ok(server, token, "mail-settings.update", subscribed=False)
    assert off["mail_settings"] == {
        "address": "a…@example.com", "address_source": "email_trait", "subscribed": False
    }  # fmt: skip
