"""SQLite write paths under a held write lock: another process (the CLI, a
second server) may hold it; the server must wait for it without freezing."""

import asyncio
import sqlite3

from sqlalchemy.engine import make_url

from tests.live_server import LiveServer


async def test_identify_waits_for_a_held_write_lock_without_stalling_the_server(
    server: LiveServer,
) -> None:
    path = make_url(server.database_url).database
    assert path is not None
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # as another process's write would
    try:
        async with server.async_client(server.aat) as backend, server.async_client() as anyone:
            pending = asyncio.create_task(
                backend.post("/auth-tokens.create", json={"rev_info": {"user_ref": "waits"}})
            )
            # While the identify waits for the lock, the server still answers.
            health = await anyone.get("/health")
            assert health.status_code == 200
            assert not pending.done()
            holder.execute("COMMIT")
            response = await pending
    finally:
        holder.close()
    assert response.status_code == 201, response.text
    with server.client(server.pat) as c:
        users = c.get("/rev-users.list", params={"external_ref": "waits"}).json()["rev_users"]
    assert len(users) == 1
