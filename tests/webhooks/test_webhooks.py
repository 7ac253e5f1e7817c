"""webhooks.* against a live server and a real receiver on loopback: the
handshake, every event once and signed, an outage survived with each event
still once under the same id, and DevRev's update rules."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from openplug.webhooks.events import EMITTED
from tests.conftest import ServerFactory
from tests.conversations.helpers import anonymous_session, user_id_of, widget_ok
from tests.helpers import jwt_claims
from tests.live_server import LiveServer
from tests.webhooks.devrev_schema import check
from tests.webhooks.receiver import Receiver
from tests.widget.test_unverified_identity import identify_ok

SESSION = "/auth-tokens.create"


@pytest.fixture(params=["sqlite", "postgresql"])
def hooked(request: pytest.FixtureRequest, make_server: ServerFactory) -> LiveServer:
    return make_server(
        backend=request.param,
        webhooks_allow_private=True,
        outbox_poll_seconds=0.05,
        outbox_retry_seconds=0.05,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def admin(server: LiveServer) -> httpx.Client:
    return server.client(server.pat)


def ok(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    return body


def until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Poll the API until ``condition`` holds (the server works on its own
    time: the outbox worker delivers after the call returned)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def status(server: LiveServer, webhook_id: str) -> str:
    with admin(server) as c:
        return str(ok(c.get("/webhooks.get", params={"id": webhook_id}))["webhook"]["status"])


def create(server: LiveServer, url: str, **fields: Any) -> dict[str, Any]:
    with admin(server) as c:
        body = ok(c.post("/webhooks.create", json={"url": url, **fields}), 201)
    check("webhooks-create-response", body)
    return dict(body["webhook"])


def identify(server: LiveServer, rev_info: dict[str, Any]) -> str:
    with server.client(server.aat) as c:
        r = ok(c.post(SESSION, json={"rev_info": rev_info}), 201)
    return str(jwt_claims(r["access_token"])["sub"])


def test_handshake_makes_it_active(hooked: LiveServer, receiver: Receiver) -> None:
    hook = create(hooked, receiver.url, event_types=["rev_user_created"])
    assert hook["status"] == "unverified"
    assert len(hook["secret"]) == 32
    until(lambda: status(hooked, hook["id"]) == "active", "the webhook to become active")
    (verify,) = receiver.events("verify")
    assert verify.signed_by(hook["secret"])
    check("webhook-event-request", verify.event)
    assert verify.event["webhook_id"] == hook["id"]
    with admin(hooked) as c:
        listed = ok(c.get("/webhooks.list"))
        log = ok(c.get("/webhooks.deliveries.list", params={"webhook": hook["id"]}))
    check("webhooks-list-response", listed)
    assert [d["state"] for d in log["deliveries"]] == ["delivered"]
    assert log["deliveries"][0]["event_id"] == verify.event["id"]


def test_wrong_challenge_stays_unverified(hooked: LiveServer, receiver: Receiver) -> None:
    receiver.echo_challenge = False
    hook = create(hooked, receiver.url, event_types=["rev_user_created"], secret="s3cret-enough")
    receiver.wait_for(lambda r: r.events("verify"))

    def failed() -> bool:
        with admin(hooked) as c:
            log = ok(c.get("/webhooks.deliveries.list", params={"webhook": hook["id"]}))
        return [d["state"] for d in log["deliveries"]] == ["failed"]

    until(failed, "the handshake to fail")
    assert status(hooked, hook["id"]) == "unverified"
    identify(hooked, {"user_ref": "not-told"})
    with admin(hooked) as c:
        log = ok(c.get("/webhooks.deliveries.list", params={"webhook": hook["id"]}))
    assert [d["type"] for d in log["deliveries"]] == ["verify"]  # no object events


def _make_every_event(server: LiveServer, receiver: Receiver) -> str:
    info = {"user_ref": "ada", "user_traits": {"display_name": "Ada", "email": "ada@example.com"},
            "account_ref": "acme", "workspace_ref": "acme-eu"}  # fmt: skip
    user = identify(server, info)  # rev_user, account, rev_org created
    identify(server, info)  # unchanged: no event
    identify(server, {**info, "user_traits": {"display_name": "Ada L."}})  # rev_user_updated
    with admin(server) as c:
        acc = ok(c.get("/accounts.list", params={"external_refs": "acme"}))["accounts"][0]
        ok(c.post("/accounts.update", json={"id": acc["id"], "description": "big"}))
        org = ok(c.get("/rev-orgs.list", params={"external_ref": "acme-eu"}))["rev_orgs"][0]
        ok(c.post("/rev-orgs.update", json={"id": org["id"], "description": "EU"}))
        first = {"members": [user], "title": "Hello", "messages": [{"body": "Hi Ada"}]}
        conv = ok(c.post("/conversations.create", json=first), 201)
        ok(c.post("/conversations.update", json={"id": conv["conversation"]["id"],
                                                 "title": "Hello again"}))  # fmt: skip
        tag = ok(c.post("/tags.create", json={"name": "vip"}), 201)["tag"]
        ok(c.post("/tags.update", json={"id": tag["id"], "name": "VIP"}))
        ok(c.post("/tags.delete", json={"id": tag["id"]}))
        (entry,) = conv["conversation"]["messages"]
        ok(c.post("/timeline-entries.update", json={"id": entry["id"], "type": "timeline_comment",
                                                    "body": "Hi Ada!"}))  # fmt: skip
    # What is deleted next is told first (an event's object is rendered when
    # it is sent: a delete before that drops it, see the delivery log).
    told = ("conversation_created", "conversation_updated", "timeline_entry_created",
            "timeline_entry_updated")  # fmt: skip
    receiver.wait_for(lambda r: all(r.events(t) for t in told))
    with admin(server) as c:
        ok(c.post("/timeline-entries.delete", json={"id": entry["id"]}))
        ok(c.post("/conversations.delete", json={"id": conv["conversation"]["id"]}))
    gone = identify(server, {"user_ref": "gone"})
    # Told once it exists (an event is rendered when first sent: one whose
    # object was erased first is dropped, see the delivery log).
    receiver.wait_for(lambda r: len(r.events("rev_user_created")) == 2)
    with admin(server) as c:
        ok(c.post("/rev-users.delete", json={"id": gone}))
    return gone


def test_every_event_once_and_signed(hooked: LiveServer, receiver: Receiver) -> None:
    hook = create(hooked, receiver.url, event_types=list(EMITTED))
    until(lambda: status(hooked, hook["id"]) == "active", "the webhook to become active")
    gone = _make_every_event(hooked, receiver)
    expected = Counter(EMITTED) + Counter({"rev_user_created": 1})  # "gone" was created too
    receiver.wait_for(lambda r: Counter(e.event["type"] for e in r.events()) - Counter(
        {"verify": 1}) == expected)  # fmt: skip
    events = [e for e in receiver.events() if e.event["type"] != "verify"]
    assert len({e.event["id"] for e in events}) == len(events)
    for e in events:
        assert e.signed_by(hook["secret"])
        body = e.event
        assert body["webhook_id"] == hook["id"] and body["timestamp"]
        assert body[body["type"]], body
        # The envelope against DevRev's schema; the object inside is what
        # the matching DevRev call answers (its schema is the compat work's).
        check("webhook-event-request", {k: v for k, v in body.items() if k != body["type"]})
    for kind in ("created", "updated", "deleted"):  # DevRev's own event schemas
        (told,) = [e.event for e in events if e.event["type"] == f"tag_{kind}"]
        check(f"event-tag-{kind}", told[f"tag_{kind}"])
    (renamed,) = [e.event["tag_updated"] for e in events if e.event["type"] == "tag_updated"]
    assert (renamed["old_tag"]["name"], renamed["tag"]["name"]) == ("vip", "VIP")
    (untagged,) = [e.event["tag_deleted"] for e in events if e.event["type"] == "tag_deleted"]
    assert untagged["id"] == renamed["tag"]["id"] == untagged["old_tag"]["id"]
    (deleted,) = [e.event for e in events if e.event["type"] == "rev_user_deleted"]
    assert deleted["rev_user_deleted"]["id"] == gone
    (edited,) = [e.event for e in events if e.event["type"] == "timeline_entry_updated"]
    assert edited["timeline_entry_updated"]["entry"]["body"] == "Hi Ada!"
    (entry,) = [e.event for e in events if e.event["type"] == "timeline_entry_created"]
    (removed,) = [e.event for e in events if e.event["type"] == "timeline_entry_deleted"]
    entry_id = entry["timeline_entry_created"]["entry"]["id"]
    assert removed["timeline_entry_deleted"] == {"id": entry_id}
    (conv,) = [e.event for e in events if e.event["type"] == "conversation_created"]
    (dropped,) = [e.event for e in events if e.event["type"] == "conversation_deleted"]
    conv_id = conv["conversation_created"]["conversation"]["id"]
    assert dropped["conversation_deleted"] == {"id": conv_id}


def test_receiver_down_then_up(hooked: LiveServer, receiver: Receiver) -> None:
    hook = create(hooked, receiver.url, event_types=["rev_user_created"])
    until(lambda: status(hooked, hook["id"]) == "active", "the webhook to become active")
    receiver.stop()  # connections refused from now on
    for n in range(3):
        identify(hooked, {"user_ref": f"while-down-{n}"})

    def retried() -> bool:
        with admin(hooked) as c:
            log = ok(c.get("/webhooks.deliveries.list", params={"webhook": hook["id"]}))
        objects = [d for d in log["deliveries"] if d["type"] != "verify"]
        return len(objects) == 3 and all(
            d["attempts"] >= 2 and d["state"] == "pending" and "last_error" in d for d in objects
        )

    until(retried, "every event to have failed at least twice")
    receiver.start()
    receiver.wait_for(lambda r: len(r.events("rev_user_created")) == 3)

    def delivered() -> bool:
        with admin(hooked) as c:
            log = ok(c.get("/webhooks.deliveries.list", params={"webhook": hook["id"]}))
        return all(d["state"] == "delivered" for d in log["deliveries"])

    until(delivered, "the log to show every event delivered")
    with admin(hooked) as c:
        log = ok(c.get("/webhooks.deliveries.list", params={"webhook": hook["id"]}))
    got = receiver.events("rev_user_created")
    assert sorted(e.event["id"] for e in got) == sorted(
        d["event_id"] for d in log["deliveries"] if d["type"] == "rev_user_created"
    )  # each event once, under the id its failed attempts had
    assert all(e.signed_by(hook["secret"]) for e in got)


def test_update_and_delete_rules(hooked: LiveServer, receiver: Receiver) -> None:
    hook = create(hooked, receiver.url, event_types=["rev_user_created"])
    until(lambda: status(hooked, hook["id"]) == "active", "the webhook to become active")
    with admin(hooked) as c:
        r = c.post("/webhooks.update", json={"id": hook["id"], "event_types": {
            "set": ["account_created"], "add": ["rev_user_updated"]}})  # fmt: skip
        assert r.status_code == 400 and r.json()["field_name"] == "event_types.set", r.text
        body = ok(c.post("/webhooks.update", json={"id": hook["id"], "event_types": {
            "add": ["rev_user_updated"], "remove": ["rev_user_created"]}}))  # fmt: skip
        check("webhooks-update-response", body)
        assert body["webhook"]["event_types"] == ["rev_user_updated"]
        assert body["webhook"]["status"] == "active"
        body = ok(c.post("/webhooks.update", json={"id": hook["id"], "secret": ""}))
        assert body["webhook"]["secret"] != hook["secret"]
        assert body["webhook"]["status"] == "unverified"
    until(lambda: status(hooked, hook["id"]) == "active", "the new secret to be verified")
    assert receiver.events("verify")[-1].signed_by(body["webhook"]["secret"])
    with admin(hooked) as c:
        body = ok(c.post("/webhooks.update", json={"id": hook["id"], "action": "deactivate"}))
        assert body["webhook"]["status"] == "inactive"
        ok(c.post("/webhooks.delete", json={"id": hook["id"]}))
        r = c.get("/webhooks.get", params={"id": hook["id"]})
        assert r.status_code == 404
        actions = [e["action"] for e in ok(c.get("/audit-log.list"))["events"]]
    assert {"webhook.created", "webhook.updated", "webhook.deleted"} <= set(actions)


@pytest.mark.parametrize(
    ("fields", "field_name"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://127.0.0.1:9/x"}, "url"),
        ({"url": "http://10.1.2.3/x"}, "url"),
        ({"url": "http://localhost/x"}, "url"),
        ({"url": "https://example.com/x", "secret": "short"}, "secret"),
        ({"url": "https://example.com/x", "secret": "x" * 33}, "secret"),
        ({"url": "https://example.com/x", "event_types": ["nope"]}, "event_types[0]"),
    ],
)
def test_refusals_name_the_field(
    server: LiveServer, fields: dict[str, Any], field_name: str
) -> None:
    with admin(server) as c:
        r = c.post("/webhooks.create", json=fields)
    assert r.status_code == 400, r.text
    assert r.json()["field_name"] == field_name


def test_widget_visitors_and_merges_are_told(hooked: LiveServer, receiver: Receiver) -> None:
    """Visitors the widget makes (anonymous, or named by the page) and merges
    (the widget's, rev-users.merge) reach webhooks as DevRev's rev_user events."""
    kinds = ["rev_user_created", "rev_user_updated", "rev_user_deleted"]
    hook = create(hooked, receiver.url, event_types=kinds)
    until(lambda: status(hooked, hook["id"]) == "active", "the webhook to become active")
    guest = anonymous_session(hooked)
    page = identify_ok(hooked, user_ref="page-ada")["session_token"]
    identify_ok(hooked, user_ref="page-ada")  # the same again: nothing to tell
    widget_ok(hooked, page, "identity.update", user_traits={"display_name": "Ada"})
    ann = identify(hooked, {"user_ref": "ann"})
    with hooked.client(hooked.aat) as c:
        token = ok(c.post(SESSION, json={"rev_info": {"user_ref": "ann"}}), 201)["access_token"]
    widget_ok(hooked, token, "merge", anonymous_credential=guest["anonymous_credential"])
    bob = identify(hooked, {"user_ref": "bob"})
    with admin(hooked) as c:
        ok(c.post("/rev-users.merge", json={"primary_user": ann, "secondary_user": bob}))

    def told(r: Receiver) -> list[tuple[str, str]]:
        out = []
        for e in r.events():
            kind = e.event["type"]
            if kind != "verify":
                body = e.event[kind]
                out.append((kind, body["id"] if "id" in body else body["rev_user"]["id"]))
        return out

    guest_id, page_id = guest["user"]["id"], user_id_of(page)
    expected = [
        ("rev_user_created", guest_id), ("rev_user_created", page_id),
        ("rev_user_updated", page_id), ("rev_user_created", ann),
        ("rev_user_deleted", guest_id), ("rev_user_updated", ann),
        ("rev_user_created", bob), ("rev_user_deleted", bob), ("rev_user_updated", ann),
    ]  # fmt: skip
    receiver.wait_for(lambda r: len(told(r)) >= len(expected))
    assert Counter(told(receiver)) == Counter(expected)


def test_a_note_is_sent_with_its_visibility_and_a_private_entry_is_not(
    hooked: LiveServer, receiver: Receiver
) -> None:
    """DevRev sends internal entries on webhooks, marked so; a private one
    is its author's alone, so no webhook carries it."""
    hook = create(hooked, receiver.url, event_types=["timeline_entry_created"])
    until(lambda: status(hooked, hook["id"]) == "active", "the webhook to become active")
    token = anonymous_session(hooked)["session_token"]
    conv = widget_ok(hooked, token, "conversations.create", body="hello")["conversation"]
    with admin(hooked) as c:
        for visibility in ("private", "internal"):
            ok(c.post("/timeline-entries.create", json={
                "object": conv["id"], "type": "timeline_comment", "body": visibility,
                "visibility": visibility}), 201)  # fmt: skip

    def told() -> list[dict[str, Any]]:
        return [e.event["timeline_entry_created"]["entry"] for e in receiver.events()
                if e.event["type"] == "timeline_entry_created"]  # fmt: skip

    # Which entries a webhook is sent is decided in each entry's transaction.
    query = "SELECT object_key FROM webhook_deliveries WHERE type = 'timeline_entry_created'"
    rows = asyncio.run(hooked.sql(query))
    assert len(rows) == 2, "the first message and the note, not the private entry"
    receiver.wait_for(lambda r: len(told()) == 2)
    assert sorted((e["body"], e["visibility"]) for e in told()) == [
        ("hello", "external"), ("internal", "internal")]  # fmt: skip
