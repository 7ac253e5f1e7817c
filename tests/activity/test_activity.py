"""``trackEvent`` and ``addSessionProperties``: what the site sends for its
visitor is kept (bounded, validated) and agents read it beside the
conversation with ``visitor-activity.get``."""

from __future__ import annotations

import asyncio

import pytest

from openplug.activity.rules import MAX_EVENTS, MAX_PROPERTIES
from tests.conversations.helpers import (
    agent_ok,
    anonymous_session,
    assert_error,
    identified_token,
    user_id_of,
    widget,
    widget_ok,
)
from tests.live_server import LiveServer

PAGE = "https://shop.example.com/cart?step=2"


def activity(server: LiveServer, token: str, **extra: object) -> dict:
    return dict(
        agent_ok(server, "/visitor-activity.get", {"id": user_id_of(token), **extra})["activity"]
    )


def test_events_session_properties_and_current_page(any_server: LiveServer) -> None:
    server = any_server
    token = identified_token(server, "shopper@example.com")
    properties = {"name": "John Doe", "plan": "Starter", "payment_method": "Credit Card",
                  "expiry_date": "2024-12-12", "seats": 3, "trial": False}  # fmt: skip
    widget_ok(server, token, "events.track", event_name="signed_up", properties=properties)
    widget_ok(server, token, "events.track", event_name="added_to_cart", page_url=PAGE)
    got = widget_ok(server, token, "visit-properties.add",
                    properties={"city": "Bengaluru", "region": "us-east"})  # fmt: skip
    assert got["session_properties"] == {"city": "Bengaluru", "region": "us-east"}
    got = widget_ok(server, token, "visit-properties.add",
                    properties={"region": None, "tier": "gold"})  # fmt: skip
    assert got["session_properties"] == {"city": "Bengaluru", "tier": "gold"}

    seen = activity(server, token)
    assert [e["name"] for e in seen["events"]] == ["added_to_cart", "signed_up"]
    assert seen["events"][1]["properties"] == properties
    assert seen["events"][0]["page_url"] == PAGE
    assert seen["session_properties"] == {"city": "Bengaluru", "tier": "gold"}
    assert seen["current_page"] == PAGE and seen["last_seen_date"].endswith("Z")
    assert seen["rev_user"] == user_id_of(token)

    # A page reported alone moves the current page.
    widget_ok(server, token, "visit-properties.add", page_url="https://shop.example.com/")
    assert activity(server, token)["current_page"] == "https://shop.example.com/"


def test_a_visitor_keeps_only_the_latest_events(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    for n in range(MAX_EVENTS + 5):
        widget_ok(server, token, "events.track", event_name=f"e{n}")
    rows = asyncio.run(server.sql("SELECT count(*) AS n FROM visitor_events"))
    assert rows[0].n == MAX_EVENTS
    seen = activity(server, token, limit=100)
    assert seen["events"][0]["name"] == f"e{MAX_EVENTS + 4}"
    assert seen["events"][-1]["name"] == "e5"
    assert len(activity(server, token)["events"]) == 20  # the default page


def test_session_properties_are_bounded(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    widget_ok(server, token, "visit-properties.add",
              properties={f"k{n}": n for n in range(MAX_PROPERTIES)})  # fmt: skip
    r = widget(server, token, "visit-properties.add", properties={"one_more": 1})
    assert_error(r, 400, "invalid_field", "properties")
    # Replacing and removing keys stays within the bound.
    widget_ok(server, token, "visit-properties.add", properties={"k0": None, "one_more": 1})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"event_name": "signed up"}, "event_name"),
        ({"event_name": ""}, "event_name"),
        ({"event_name": "x" * 65}, "event_name"),
        ({}, "event_name"),
        ({"event_name": "ok", "properties": {"nested": {"a": 1}}}, "properties"),
        ({"event_name": "ok", "properties": {"long": "x" * 1001}}, "properties"),
        ({"event_name": "ok", "properties": {"k" * 65: 1}}, "properties"),
        ({"event_name": "ok", "properties": {f"k{n}": n for n in range(51)}}, "properties"),
        ({"event_name": "ok", "properties": []}, "properties"),
        ({"event_name": "ok", "page_url": "javascript:alert(1)"}, "page_url"),
        ({"event_name": "ok", "page_url": "x" * 3000}, "page_url"),
        ({"event_name": "ok", "extra": 1}, "extra"),
    ],
)
def test_bad_events_name_the_field(server: LiveServer, body: dict, field: str) -> None:
    token = anonymous_session(server)["session_token"]
    r = widget(server, token, "events.track", **body)
    assert r.status_code == 400, r.text
    assert r.json()["field_name"] == field, r.json()
    assert asyncio.run(server.sql("SELECT count(*) AS n FROM visitor_events"))[0].n == 0


def test_activity_is_for_agents_and_names_a_user(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    with server.client(token) as c:
        r = c.post("/visitor-activity.get", json={"id": user_id_of(token)})
    assert r.status_code in (401, 403)
    with server.client(server.pat) as c:
        r = c.post("/visitor-activity.get", json={"id": "don:identity:dvrv-us-1:devo/0:revu/999"})
        assert r.status_code in (400, 404)
        r = c.get("/visitor-activity.get", params={"id": user_id_of(token), "limit": 1})
        assert r.status_code == 200
        assert r.json()["activity"]["events"] == [] and r.json()["activity"]["current_page"] is None
