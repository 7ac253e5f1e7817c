"""SQLite writes: waiting for a write lock another process holds without
freezing the server, and group commit (on PostgreSQL too) that isolates a
failing write."""

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from openplug.db import Database
from openplug.errors import InvalidField
from tests.conversations.helpers import identified_token, start_conversation, widget_ok
from tests.live_server import LiveServer


async def test_identify_waits_for_a_held_write_lock_without_stalling_the_server(
    server: LiveServer,
) -> None:
    path = make_url(server.database_url).database
    assert path is not None
    response = await _while_the_lock_is_held(
        path, server.async_client(server.aat),
        lambda c: c.post("/auth-tokens.create", json={"rev_info": {"user_ref": "waits"}}),
        server.async_client(),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    with server.client(server.pat) as c:
        users = c.get("/rev-users.list", params={"external_ref": "waits"}).json()["rev_users"]
    assert len(users) == 1


async def test_a_message_waits_for_a_held_write_lock_without_stalling_the_server(
    server: LiveServer,
) -> None:
    """The write engine runs its transactions in the loop's thread while
    the lock is free (``inline_sqlite.InlineWriteConnection``); when another
    connection holds it, the write waits on aiosqlite's thread instead of
    failing or blocking every other request."""
    token = identified_token(server, "waits-to-post")
    conversation = start_conversation(server, token)["id"]
    path = make_url(server.database_url).database
    assert path is not None
    body = {"app_id": server.app_id, "conversation": conversation, "body": "waited"}
    response = await _while_the_lock_is_held(
        path, server.async_client(token), lambda c: c.post("/widget/messages.create", json=body),
        server.async_client(),
    )  # fmt: skip
    assert response.status_code == 201, response.text
    listed = widget_ok(server, token, "messages.list", conversation=conversation)["messages"]
    assert [m["body"] for m in listed] == ["hello", "waited"]


async def _while_the_lock_is_held(
    path: str, caller: Any, request: Callable[[Any], Awaitable[Any]], anyone: Any
) -> Any:
    """``request`` sent by ``caller`` while another connection holds the
    write lock (as another process's write would): it waits, the server
    still answers ``anyone``, and it completes once the lock is released."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        async with caller as client, anyone as other:
            pending = asyncio.create_task(request(client))
            health = await other.get("/health")
            assert health.status_code == 200
            assert not pending.done()
            holder.execute("COMMIT")
            return await pending
    finally:
        holder.close()


async def test_a_rejected_identify_among_concurrent_ones_fails_alone(
    any_server: LiveServer,
) -> None:
    """Concurrent first-time identifies share a transaction (group commit,
    on both backends); one that is rejected in the write phase (a required
    custom field missing on creation) must not take the others down, nor
    leave anything behind."""
    with any_server.client(any_server.pat) as c:
        r = c.post(
            "/schemas.custom.set",
            json={
                "type": "tenant_fragment",
                "leaf_type": "account",
                "fields": [{"name": "plan", "field_type": "text", "is_required": True}],
            },
        )
        assert r.status_code == 201, r.text

    def body(i: int) -> dict[str, object]:
        account: dict[str, object] = {"account_ref": f"acc-{i}"}
        if i != 7:  # request 7 creates an account without the required field
            account["account_traits"] = {"custom_fields": {"tnt__plan": "pro"}}
        return {"rev_info": {"user_ref": f"user-{i}", **account}}

    async with any_server.async_client(any_server.aat) as backend:
        responses = await asyncio.gather(
            *(backend.post("/auth-tokens.create", json=body(i)) for i in range(20))
        )
    statuses = {i: r.status_code for i, r in enumerate(responses)}
    assert statuses.pop(7) == 400
    assert responses[7].json()["subtype"] == "field_required"
    assert set(statuses.values()) == {201}
    with any_server.client(any_server.pat) as c:
        refs = {u["external_ref"] for u in c.get("/rev-users.list").json()["rev_users"]}
        accounts = {a["external_refs"][0] for a in c.get("/accounts.list").json()["accounts"]}
    assert refs == {f"user-{i}" for i in range(20) if i != 7}
    assert accounts == {f"acc-{i}" for i in range(20) if i != 7}


async def test_group_commit_isolates_a_failing_write(tmp_path: Path) -> None:
    """Writes queued in the same loop turn share one transaction; when one
    fails after writing part of its rows, it alone fails and leaves nothing,
    and the others are committed."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        await db.run_write(lambda c: c.exec_driver_sql("CREATE TABLE t (x INTEGER)"))
        runs: list[int] = []

        def write(i: int) -> Callable[[Connection], int]:
            def work(conn: Connection) -> int:
                runs.append(i)
                conn.exec_driver_sql(f"INSERT INTO t VALUES ({i})")
                if i == 3:
                    raise InvalidField("x", "three is refused")
                return i

            return work

        outcomes = await asyncio.gather(
            *(db.run_write(write(i)) for i in range(6)), return_exceptions=True
        )
        rows = await db.run_write(
            lambda c: sorted(x for (x,) in c.exec_driver_sql("SELECT x FROM t"))
        )
    finally:
        await db.dispose()
    assert outcomes[:3] == [0, 1, 2] and outcomes[4:] == [4, 5]
    assert isinstance(outcomes[3], InvalidField)
    assert rows == [0, 1, 2, 4, 5]
    # One shared attempt, then each on its own: proof the batch was shared.
    assert runs.count(0) == 2 and runs.count(3) == 2
