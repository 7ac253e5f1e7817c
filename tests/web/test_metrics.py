"""GET /metrics (Prometheus's text format), request ids and the access log:
requests are labelled by route template, never by the raw path, and only
loopback or the metrics token may read them."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from openplug.app import create_app
from tests.conftest import ServerFactory
from tests.conversations.helpers import agent_reply, anonymous_session, start_conversation
from tests.live_server import LiveServer, make_settings
from tests.realtime.test_sockets import conv_topic, message_seqs, visitor_socket

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def requests_of(found: Samples, route: str, method: str, status: str) -> float:
    key = ("openplug_http_requests_total",
           (("method", method), ("route", route), ("status", status)))  # fmt: skip
    return found.get(key, 0.0)


def identify(server: LiveServer, ref: str) -> httpx.Response:
    with server.client(server.aat) as c:
        return c.post("/auth-tokens.create", json={"rev_info": {"user_ref": ref}})


def test_requests_are_counted_by_route_template_and_status(server: LiveServer) -> None:
    secret_path = f"/artifacts/download/{secrets.token_urlsafe(16)}"
    with server.client() as c:
        before = samples(c.get("/metrics").text)
        assert c.get("/health").status_code == 200
        c.get(secret_path)
        c.get("/no-such.thing?token=opl_never_logged")
    assert identify(server, "metrics@example.com").status_code in (200, 201)
    with server.client() as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    after = samples(r.text)
    assert (
        requests_of(after, "/health", "GET", "200")
        == requests_of(before, "/health", "GET", "200") + 1
    )
    assert (
        requests_of(after, "/auth-tokens.create", "POST", "201")
        + requests_of(after, "/auth-tokens.create", "POST", "200")
        >= 1
    )
    assert requests_of(after, "<unmatched>", "GET", "404") >= 1
    # Neither the path's token nor the query string is a label.
    assert secret_path.rsplit("/", 1)[1] not in r.text and "opl_never_logged" not in r.text
    assert after[("openplug_http_request_duration_seconds_count",
                  (("method", "GET"), ("route", "/health")))] >= 1  # fmt: skip
    assert after[("openplug_session_tokens_minted_total", ())] >= 1
    assert after[("openplug_broker_up", ())] == 1
    assert ("openplug_outbox_pending_jobs", ()) in after
    assert ("openplug_realtime_subscriptions", ()) in after


def test_the_request_id_is_echoed_and_a_bad_one_replaced(server: LiveServer) -> None:
    with server.client() as c:
        assert c.get("/health", headers={"X-Request-Id": "abc-123"}).headers["x-request-id"] == (
            "abc-123"
        )
        made = c.get("/health", headers={"X-Request-Id": "no spaces\tor tabs"})
        assert made.headers["x-request-id"] not in ("", "no spaces\tor tabs")
        assert len(c.get("/health").headers["x-request-id"]) == 16


def test_with_a_token_metrics_need_it(make_server: ServerFactory) -> None:
    token = secrets.token_urlsafe(24)
    server = make_server(metrics_token=token)
    with server.client() as c:
        assert c.get("/metrics").status_code == 401
        wrong = c.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.json()["type"] == "unauthenticated"
        assert c.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


async def test_without_a_token_only_loopback_may_read_metrics(tmp_path: Path) -> None:
    # In process (no socket): the client address is what a remote peer's
    # would be; nothing is sent anywhere.
    app = create_app(make_settings(tmp_path, None))
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://openplug.test") as c:
        r = await c.get("/metrics")
    assert r.status_code == 403
    assert r.json()["type"] == "forbidden"
    assert "OPENPLUG_METRICS_TOKEN" in r.json()["message"]


async def test_the_access_log_names_the_route_and_a_500_its_request_id(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = make_server(access_log=True)
    # (Each call sets the capture handler's level too: the lower one last.)
    caplog.set_level(logging.ERROR, logger="openplug.errors")
    caplog.set_level(logging.INFO, logger="openplug.access")
    with server.client() as c:
        c.get("/health?token=opl_never_logged", headers={"X-Request-Id": "req-1"})
    access = [r for r in caplog.records if r.name == "openplug.access"]
    line = next(r for r in access if getattr(r, "route", None) == "/health")
    assert (line.method, line.status) == ("GET", 200)  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]
    # (uvicorn's own access log, off in ``openplug serve``, and the test's
    # HTTP client do print the whole URL.)
    ours = [r for r in caplog.records if r.name.startswith("openplug")]
    assert not any("opl_never_logged" in f"{r.getMessage()} {r.__dict__}" for r in ours)
    await server.sql("DROP TABLE rev_orgs")
    with server.client(server.pat) as c:
        r = c.get("/rev-orgs.list", headers={"X-Request-Id": "req-500"})
    assert r.status_code == 500
    assert r.json()["reference_id"] == "req-500" == r.headers["x-request-id"]
    assert any(
        "reference_id=req-500 GET /rev-orgs.list" in rec.getMessage() for rec in caplog.records
    )
    assert any(
        getattr(rec, "status", None) == 500
        for rec in caplog.records
        if rec.name == "openplug.access"
    )


async def test_a_reply_delivered_to_a_socket_is_timed_once(server: LiveServer) -> None:
    """Delivery latency: one observation per message handed to this
    process's sockets (not one per socket), from the message's creation."""
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "is anyone there?")
    topic = conv_topic(conversation)
    count = "openplug_realtime_message_delivery_seconds_count"
    with server.client() as c:
        before = samples(c.get("/metrics").text).get((count, ()), 0.0)
    # The visitor's own first message may still be published after the
    # subscribes (the hub works on its own time): then it is delivered and
    # timed too. Every message a socket sees live is counted below.
    seen: set[int] = set()
    async with visitor_socket(server, token) as one, visitor_socket(server, token) as two:
        for socket in (one, two):
            seen.update(message_seqs(await socket.subscribe(topic)))
        agent_reply(server, conversation["id"], "yes, here")
        for socket in (one, two):
            while 2 not in (got := message_seqs([await socket.next()])):
                seen.update(got)
        seen.add(2)
    with server.client() as c:
        after = samples(c.get("/metrics").text)
    assert after[(count, ())] == before + len(seen)
    # Timed from its creation: within the largest bucket.
    assert after[("openplug_realtime_message_delivery_seconds_bucket", (("le", "10.0"),))] >= 1
    assert after[("openplug_realtime_deliveries_total", ())] >= 2
