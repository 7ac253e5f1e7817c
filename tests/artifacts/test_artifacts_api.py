"""Files in conversations over a real server: DevRev's artifacts.* flow,
messages that carry files, who may fetch them, and what is refused."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import time
from typing import Any

import httpx
from PIL import Image

from openplug.db import Database
from tests.artifacts.helpers import (
    agent_upload,
    executable_bytes,
    pdf_bytes,
    png_with_gps,
    upload,
    visitor_prepare,
    visitor_upload,
)
from tests.conftest import ServerFactory
from tests.conversations.helpers import (
    agent_ok,
    anonymous_session,
    assert_error,
    identified_token,
    second_app,
    start_conversation,
    user_id_of,
    widget,
    widget_ok,
)
from tests.live_server import LiveServer
from tests.mail import outbox_probe
from tests.realtime.test_sockets import conv_topic, visitor_socket


def _get(url: str) -> httpx.Response:
    return httpx.get(url, timeout=30)


def _objects_deleted(server: LiveServer, timeout: float = 20.0) -> None:
    """Until every object deletion the outbox holds has run (the event the
    test waits for, polled: the outbox announces nothing)."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = outbox_probe.jobs(server, "artifacts.delete_objects")
        if jobs and all(j.state == "done" for j in jobs):
            return
        assert time.monotonic() < deadline, [(j.state, j.last_error) for j in jobs]
        time.sleep(0.05)


async def _sweep_from_another_process(server: LiveServer) -> int:
    """The hourly orphan sweep, as another server process sharing the
    database runs it (its own engine, in this loop)."""
    from openplug.artifacts import service

    assert server.runtime is not None
    runtime = dataclasses.replace(server.runtime, db=Database(server.database_url))
    try:
        return await service.sweep_orphans(runtime)
    finally:
        await runtime.db.dispose()


def test_a_visitors_screenshot_reaches_the_agent_without_its_gps(files_server: LiveServer) -> None:
    server = files_server
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token, "my screen")
    original = png_with_gps()
    prepared = visitor_upload(server, token, "screen.png", original, "image/png")

    posted = widget_ok(
        server, token, "messages.create", conversation=conversation["id"],
        artifacts=[prepared["id"]],
    )["message"]  # fmt: skip
    assert posted["body"] == ""  # files alone
    (summary,) = posted["artifacts"]
    assert summary["id"] == prepared["id"] and summary["display_id"].startswith("ARTIFACT-")
    assert summary["file"] == {"type": "image/png", "name": "screen.png", "size": len(original)}
    assert (summary["width"], summary["height"]) == (64, 48)

    entries = agent_ok(server, "/timeline-entries.list", {"object": conversation["id"]})
    (seen,) = entries["timeline_entries"][0]["artifacts"]
    assert seen["id"] == prepared["id"]

    # The original, byte for byte, as a download that no browser renders.
    r = _get(seen["url"])
    assert r.status_code == 200 and r.content == original
    assert r.headers["content-disposition"].startswith("attachment;")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    # The inline copy and the thumbnail: re-encoded, no EXIF left.
    for key in ("inline_url", "thumbnail_url"):
        shown = _get(seen[key])
        assert shown.status_code == 200, shown.text
        assert shown.headers["content-disposition"] == "inline"
        assert shown.headers["content-type"] == "image/png"
        assert b"secret-location-marker" not in shown.content
        assert not Image.open(io.BytesIO(shown.content)).getexif()
    assert b"secret-location-marker" in original  # the test file did carry it


def test_an_agent_attaches_a_pdf_and_the_visitor_downloads_it(files_server: LiveServer) -> None:
    server = files_server
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token)
    prepared = agent_upload(server, "invoice.pdf", pdf_bytes(), "application/pdf")
    entry = agent_ok(
        server, "/timeline-entries.create",
        {"object": conversation["id"], "type": "timeline_comment", "body": "here you go",
         "artifacts": [prepared["id"]]},
    )["timeline_entry"]  # fmt: skip
    assert entry["artifacts"][0]["file"]["type"] == "application/pdf"

    messages = widget_ok(server, token, "messages.list", conversation=conversation["id"])
    (summary,) = messages["messages"][-1]["artifacts"]
    assert "thumbnail_url" not in summary
    located = widget_ok(server, token, "artifacts.locate", id=summary["id"])
    r = _get(located["url"])
    assert r.status_code == 200 and r.content == pdf_bytes()
    assert r.headers["content-type"] == "application/pdf"
    assert 'filename="invoice.pdf"' in r.headers["content-disposition"]

    got = widget_ok(server, token, "artifacts.get", id=summary["id"])
    assert got["artifact"]["file"]["name"] == "invoice.pdf"
    assert got["artifact"]["state"] == "attached"


def test_who_may_fetch_a_file(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token)
    prepared = visitor_upload(server, token, "a.txt", b"private words\n", "text/plain")
    artifact = prepared["id"]

    # Before it is attached: only its uploader, not even agents.
    other = anonymous_session(server)["session_token"]
    assert_error(widget(server, other, "artifacts.locate", id=artifact), 404, "not_found")
    with server.client(server.pat) as c:
        assert_error(c.post("/artifacts.locate", json={"id": artifact}), 404, "not_found")
    widget_ok(server, token, "messages.create", conversation=conversation["id"],
              body="see file", artifacts=[artifact])  # fmt: skip

    # Attached: the conversation's readers.
    with server.client(server.pat) as c:
        r = c.get("/artifacts.locate", params={"id": artifact})
    assert r.status_code == 200, r.text
    url = r.json()["url"]
    assert server.pat not in url and token not in url
    assert_error(widget(server, other, "artifacts.locate", id=artifact), 404, "not_found")
    assert_error(widget(server, other, "artifacts.get", id=artifact), 404, "not_found")
    other_app, other_aat = second_app(server)
    foreign = identified_token(server, "foreign@example.com", aat=other_aat)
    r = widget(server, foreign, "artifacts.locate", app_id=other_app, id=artifact)
    assert r.status_code in (401, 404), r.text
    assert b"private words" not in r.content
    r = widget(server, foreign, "artifacts.locate", id=artifact)  # token of another app
    assert r.status_code == 401, r.text
    with server.client() as c:
        assert c.post("/artifacts.locate", json={"id": artifact}).status_code == 401
        r = c.post("/widget/artifacts.locate", json={"app_id": server.app_id, "id": artifact})
        assert r.status_code == 401

    # A download URL: tampered, or expired, is a 404 with no bytes.
    assert _get(url).content == b"private words\n"
    for bad in (url[:-2] + ("AA" if not url.endswith("AA") else "BB"), url + "x"):
        r = _get(bad)
        assert r.status_code == 404 and b"private words" not in r.content
    server.settings.artifact_url_seconds = -1  # URLs minted now are already expired
    try:
        expired = widget_ok(server, token, "artifacts.locate", id=artifact)["url"]
    finally:
        server.settings.artifact_url_seconds = 300
    r = _get(expired)
    assert r.status_code == 404 and b"private words" not in r.content


def test_an_executable_claiming_to_be_a_png_is_refused(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    for name, data in [
        ("cat.png", executable_bytes()),
        ("page.html", b"<!DOCTYPE html><html><script>alert(1)</script></html>"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
    ]:
        prepared = visitor_prepare(server, token, name, file_type="image/png")
        r = upload(prepared, name, data, "image/png")
        assert_error(r, 400, "value_not_permitted", "file")
        assert "OPENPLUG_ALLOWED_UPLOAD_TYPES" in r.json()["reason"]
        # Nothing to attach: the row never became "uploaded".
        conversation = start_conversation(server, token)
        r = widget(server, token, "messages.create", conversation=conversation["id"],
                   artifacts=[prepared["id"]])  # fmt: skip
        assert_error(r, 400, "invalid_field", "artifacts[0]")


def test_files_over_the_limits_are_refused_naming_the_limit(make_server: ServerFactory) -> None:
    server = make_server(max_upload_bytes=1000, upload_bytes_per_visitor_per_day=1500)
    token = anonymous_session(server)["session_token"]
    r = widget(server, token, "artifacts.prepare", file_name="big.txt", file_size=1001)
    assert_error(r, 413, "bad_request", "file_size")
    assert r.json()["limit_bytes"] == 1000
    assert r.json()["limit_name"] == "OPENPLUG_MAX_UPLOAD_BYTES"

    prepared = visitor_prepare(server, token, "big.txt")
    r = upload(prepared, "big.txt", b"a" * 1001, "text/plain")
    assert_error(r, 413, "bad_request", "file")
    assert "1000 bytes" in r.json()["reason"]

    visitor_upload(server, token, "one.txt", b"b" * 900, "text/plain")
    prepared = visitor_prepare(server, token, "two.txt")
    r = upload(prepared, "two.txt", b"c" * 900, "text/plain")
    assert_error(r, 429, "too_many_requests", "file")
    assert r.json()["limit_name"] == "OPENPLUG_UPLOAD_BYTES_PER_VISITOR_PER_DAY"
    assert int(r.headers["retry-after"]) >= 1


def test_only_ones_own_unattached_uploads_can_be_attached(any_server: LiveServer) -> None:
    server = any_server
    alice = anonymous_session(server)["session_token"]
    bob = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, bob)
    alices = visitor_upload(server, alice, "a.txt", b"alice's\n", "text/plain")
    r = widget(server, bob, "messages.create", conversation=conversation["id"],
               artifacts=[alices["id"]])  # fmt: skip
    assert_error(r, 400, "invalid_field", "artifacts[0]")
    assert "no artifact of yours" in r.json()["message"]

    pending = visitor_prepare(server, bob, "later.txt")
    r = widget(server, bob, "messages.create", conversation=conversation["id"],
               artifacts=[pending["id"]])  # fmt: skip
    assert_error(r, 400, "invalid_field", "artifacts[0]")
    assert "not been uploaded" in r.json()["message"]

    bobs = visitor_upload(server, bob, "b.txt", b"bob's\n", "text/plain")
    widget_ok(server, bob, "messages.create", conversation=conversation["id"],
              artifacts=[bobs["id"]])  # fmt: skip
    r = widget(server, bob, "messages.create", conversation=conversation["id"],
               artifacts=[bobs["id"]])  # fmt: skip
    assert_error(r, 400, "invalid_field", "artifacts[0]")
    assert "already attached" in r.json()["message"]
    # Neither text nor files: the body is required.
    r = widget(server, bob, "messages.create", conversation=conversation["id"])
    assert_error(r, 400, "missing_required_field", "body")


async def test_two_attaches_of_one_artifact_at_once_attach_it_once(
    any_server: LiveServer,
) -> None:
    server = any_server
    token = anonymous_session(server)["session_token"]
    first = start_conversation(server, token)
    second = start_conversation(server, token)
    prepared = visitor_upload(server, token, "once.txt", b"once\n", "text/plain")

    async def attach(conversation: dict[str, Any]) -> int:
        async with server.async_client(token) as c:
            r = await c.post("/widget/messages.create", json={
                "app_id": server.app_id, "conversation": conversation["id"],
                "artifacts": [prepared["id"]]})  # fmt: skip
        return r.status_code

    statuses = sorted(await asyncio.gather(attach(first), attach(second)))
    assert statuses == [201, 400]
    rows = await server.sql("SELECT message_id FROM artifacts")
    assert len(rows) == 1 and rows[0].message_id is not None


async def test_the_socket_event_carries_the_files(server: LiveServer) -> None:
    token = anonymous_session(server)["session_token"]
    conversation = start_conversation(server, token)
    prepared = await asyncio.to_thread(
        agent_upload, server, "shot.png", png_with_gps((20, 10)), "image/png"
    )
    async with visitor_socket(server, token) as visitor:
        await visitor.subscribe(conv_topic(conversation))
        await asyncio.to_thread(
            agent_ok, server, "/timeline-entries.create",
            {"object": conversation["id"], "artifacts": [prepared["id"]]},
        )  # fmt: skip
        event = await visitor.event("message.created", conv_topic(conversation), seq=2)
    (summary,) = event["message"]["artifacts"]
    assert summary["id"] == prepared["id"] and (summary["width"], summary["height"]) == (20, 10)
    shown = await asyncio.to_thread(_get, summary["thumbnail_url"])
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/png"


async def test_orphans_are_removed_with_their_bytes(any_server: LiveServer) -> None:
    server = any_server
    token = anonymous_session(server)["session_token"]
    prepared = await asyncio.to_thread(
        visitor_upload, server, token, "never.txt", b"forgotten\n", "text/plain"
    )
    located = await asyncio.to_thread(
        widget_ok, server, token, "artifacts.locate", id=prepared["id"]
    )
    await server.sql("UPDATE artifacts SET created_at = '2000-01-01 00:00:00'")
    assert await _sweep_from_another_process(server) == 1
    assert await server.sql("SELECT id FROM artifacts") == []
    await asyncio.to_thread(_objects_deleted, server)
    files = [p for p in (server.settings.data_dir / "artifacts").rglob("*") if p.is_file()]
    assert files == []
    r = await asyncio.to_thread(_get, located["url"])
    assert r.status_code == 404


async def test_erasure_takes_the_persons_files_and_the_export_lists_them(
    any_server: LiveServer,
) -> None:
    server = any_server
    token = await asyncio.to_thread(identified_token, server, "erased@example.com")
    conversation = await asyncio.to_thread(start_conversation, server, token)
    prepared = await asyncio.to_thread(
        visitor_upload, server, token, "mine.txt", b"my words\n", "text/plain"
    )
    await asyncio.to_thread(
        widget_ok, server, token, "messages.create", conversation=conversation["id"],
        artifacts=[prepared["id"]],
    )  # fmt: skip
    person = user_id_of(token)
    with server.client(server.pat) as c:
        r = c.post("/rev-users.personal-data.export", json={"id": person})
    assert r.status_code == 200, r.text
    (listed,) = r.json()["files"]
    assert listed["id"] == prepared["id"] and listed["file"]["name"] == "mine.txt"
    assert (await asyncio.to_thread(_get, listed["url"])).content == b"my words\n"
    (message,) = [m for m in r.json()["conversations"][0]["messages"] if m["artifacts"]]
    assert message["artifacts"][0]["id"] == prepared["id"]

    await asyncio.to_thread(agent_ok, server, "/rev-users.delete", {"id": person})
    assert await server.sql("SELECT id FROM artifacts") == []
    await asyncio.to_thread(_objects_deleted, server)
    files = [p for p in (server.settings.data_dir / "artifacts").rglob("*") if p.is_file()]
    assert files == []
    assert (await asyncio.to_thread(_get, listed["url"])).status_code == 404


def test_after_a_merge_the_identified_user_sends_what_the_anonymous_one_uploaded(
    server: LiveServer,
) -> None:
    session = anonymous_session(server)
    anonymous = session["session_token"]
    conversation = start_conversation(server, anonymous)
    sent = visitor_upload(server, anonymous, "sent.txt", b"sent\n", "text/plain")
    widget_ok(server, anonymous, "messages.create", conversation=conversation["id"],
              artifacts=[sent["id"]])  # fmt: skip
    waiting = visitor_upload(server, anonymous, "waiting.txt", b"waiting\n", "text/plain")

    identified = identified_token(server, "merged-files@example.com")
    widget_ok(server, identified, "merge", anonymous_credential=session["anonymous_credential"])
    assert widget_ok(server, identified, "artifacts.locate", id=sent["id"])["url"]
    posted = widget_ok(server, identified, "messages.create", conversation=conversation["id"],
                       artifacts=[waiting["id"]])["message"]  # fmt: skip
    assert [a["id"] for a in posted["artifacts"]] == [waiting["id"]]
