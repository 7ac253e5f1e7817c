"""Shared helpers for conversation and widget tests: identified and
anonymous visitors, and the calls they make."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import jwt

from tests.live_server import LiveServer


def jwt_claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def identified_token(server: LiveServer, user_ref: str, *, aat: str | None = None) -> str:
    with server.client(aat or server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": user_ref}})
    assert r.status_code == 201, r.text
    return str(r.json()["access_token"])


def user_id_of(token: str) -> str:
    return str(jwt_claims(token)["sub"])


def anonymous_session(
    server: LiveServer, credential: str | None = None, app_id: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"app_id": app_id or server.app_id}
    if credential is not None:
        body["anonymous_credential"] = credential
    with server.client() as c:
        r = c.post("/widget/session", json=body)
    assert r.status_code == 200, r.text
    return dict(r.json())


def widget(
    server: LiveServer, token: str, path: str, app_id: str | None = None, **body: Any
) -> httpx.Response:
    with server.client(token) as c:
        return c.post(f"/widget/{path}", json={"app_id": app_id or server.app_id, **body})


def widget_ok(server: LiveServer, token: str, path: str, **body: Any) -> dict[str, Any]:
    r = widget(server, token, path, **body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def start_conversation(server: LiveServer, token: str, body: str = "hello") -> dict[str, Any]:
    return dict(widget_ok(server, token, "conversations.create", body=body)["conversation"])


def agent_ok(server: LiveServer, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with server.client(server.pat) as c:
        r = c.post(path, json=body)
    assert r.status_code in (200, 201), r.text
    return dict(r.json())


def agent_reply(server: LiveServer, conversation_id: str, body: str) -> dict[str, Any]:
    entry = agent_ok(
        server,
        "/timeline-entries.create",
        {"object": conversation_id, "type": "timeline_comment", "body": body, "body_type": "text"},
    )
    return dict(entry["timeline_entry"])


def second_app(server: LiveServer) -> tuple[str, str]:
    """Another app of the same org, and an AAT for it."""
    import asyncio

    app_id = "app_second_one"
    asyncio.run(
        server.sql(
            "INSERT INTO apps (app_id, name, allowed_origins, require_identification, created_at)"
            " VALUES (:a, 'Second', '[]', false, CURRENT_TIMESTAMP)",
            a=app_id,
        )
    )
    aat = agent_ok(
        server,
        "/auth-tokens.create",
        {"requested_token_type": "urn:devrev:params:oauth:token-type:aat", "aud": [app_id]},
    )["access_token"]
    return app_id, str(aat)


def expired_token(server: LiveServer, token: str) -> str:
    """``token`` as it would be once expired: the same claims, in the past,
    signed with the server's key."""
    assert server.runtime is not None
    claims = jwt_claims(token)
    past = int(time.time()) - 7200
    claims.update(iat=past, exp=past + 300)
    key = server.runtime.secrets.active_key
    return jwt.encode(claims, key.secret, algorithm="HS256", headers={"kid": key.kid})


def assert_error(r: httpx.Response, status: int, error_type: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == error_type, body
    if field is not None:
        assert body.get("field_name") == field, body
