"""``rev-users.merge``: the primary user absorbs the secondary's
conversations, audited; DevRev's never-merge rule for unverified users."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.audit.test_audit_trail import events
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
from tests.widget.test_unverified_identity import identify_ok


def merge(server: LiveServer, primary: Any, secondary: Any) -> httpx.Response:
    with server.client(server.pat) as c:
        body = {"primary_user": primary, "secondary_user": secondary}
        return c.post("/rev-users.merge", json=body)


def titles(server: LiveServer, token: str) -> list[str]:
    listed = widget_ok(server, token, "conversations.list")["conversations"]
    return sorted(c["title"] for c in listed)


def test_merge_moves_conversations_ends_sessions_and_is_audited(server: LiveServer) -> None:
    ann = identified_token(server, "ann")
    bob = identified_token(server, "bob")
    start_conversation(server, ann, "from ann")
    start_conversation(server, bob, "from bob")
    anonymous = anonymous_session(server)["session_token"]
    start_conversation(server, anonymous, "from a guest")

    r = merge(server, user_id_of(ann), user_id_of(bob))
    assert r.status_code == 200 and r.json() == {}, r.text
    assert titles(server, ann) == ["from ann", "from bob"]
    # The secondary's session token stopped working.
    assert widget(server, bob, "conversations.list").status_code == 401
    # Its ref is free: no user has it until the site names it again.
    assert agent_ok(server, "/rev-users.list", {"external_ref": ["bob"]})["rev_users"] == []
    audit = [e for e in events(server) if e["action"] == "rev_user.merged"]
    assert len(audit) == 1 and audit[0]["target"].startswith("REVU-")

    # The same merge again changes nothing; an anonymous visitor folds in too.
    assert merge(server, user_id_of(ann), user_id_of(bob)).status_code == 200
    assert user_id_of(identified_token(server, "bob")) != user_id_of(bob)
    assert len([e for e in events(server) if e["action"] == "rev_user.merged"]) == 1
    assert merge(server, user_id_of(ann), user_id_of(anonymous)).status_code == 200
    assert titles(server, ann) == ["from a guest", "from ann", "from bob"]


def test_rejections(server: LiveServer) -> None:
    ann = user_id_of(identified_token(server, "ann"))
    bob = user_id_of(identified_token(server, "bob"))
    page_user = user_id_of(identify_ok(server, user_ref="page-user")["session_token"])
    # Never an unverified user a page named with a verified one, either way.
    assert_error(merge(server, ann, page_user), 400, "invalid_field", "secondary_user")
    assert_error(merge(server, page_user, ann), 400, "invalid_field", "primary_user")
    assert_error(merge(server, ann, ann), 400, "invalid_field", "secondary_user")
    assert_error(merge(server, ann, "nope"), 400, "invalid_id", "secondary_user")
    assert_error(merge(server, "ACC-1", bob), 400, "invalid_id", "primary_user")
    assert_error(merge(server, ann, "REVU-999999"), 400, "invalid_id", "secondary_user")
    assert_error(merge(server, ann, 5), 400, "invalid_field", "secondary_user")
    with server.client(server.pat) as c:
        r = c.post("/rev-users.merge", json={"primary_user": ann})
    assert_error(r, 400, "missing_required_field", "secondary_user")
    # Merged into ann, bob cannot be merged into anyone else, nor absorb anyone.
    carl = user_id_of(identified_token(server, "carl"))
    assert merge(server, ann, bob).status_code == 200
    assert_error(merge(server, carl, bob), 400, "invalid_field", "secondary_user")
    assert_error(merge(server, bob, carl), 400, "invalid_id", "primary_user")
    with server.client(server.aat) as c:
        r = c.post("/rev-users.merge", json={"primary_user": ann, "secondary_user": carl})
    assert_error(r, 403, "forbidden")


def test_merges_at_once(any_server: LiveServer) -> None:
    """The same merge twice at once: both answer 200, the conversations
    move once, one audit entry. Crossed merges (a into b, b into a) at
    once: exactly one happens."""
    server = any_server
    ann, bob = identified_token(server, "ann"), identified_token(server, "bob")
    start_conversation(server, bob, "from bob")
    cy, dee = identified_token(server, "cy"), identified_token(server, "dee")

    async def at_once(*pairs: tuple[str, str]) -> list[int]:
        async with server.async_client(server.pat) as c:
            answers = await asyncio.gather(*(
                c.post("/rev-users.merge", json={"primary_user": user_id_of(p),
                                                 "secondary_user": user_id_of(s)})
                for p, s in pairs
            ))  # fmt: skip
        return sorted(r.status_code for r in answers)

    assert asyncio.run(at_once((ann, bob), (ann, bob))) == [200, 200]
    assert titles(server, ann) == ["from bob"]
    assert len([e for e in events(server) if e["action"] == "rev_user.merged"]) == 1
    assert asyncio.run(at_once((cy, dee), (dee, cy))) == [200, 400]
    merged = [e for e in events(server) if e["action"] == "rev_user.merged"]
    assert len(merged) == 2
