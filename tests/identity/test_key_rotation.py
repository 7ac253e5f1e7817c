"""Rotating the signing key as SECURITY.md tells an operator to: nobody is
logged out by the rotation, and the old key's tokens end only when it is
retired."""

from __future__ import annotations

import json

import jwt

from tests.conftest import ServerFactory
from tests.conversations.helpers import identified_token, widget
from tests.helpers import jwt_claims
from tests.test_cli import run


def kid_of(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_rotating_the_signing_key_logs_nobody_out(make_server: ServerFactory) -> None:
    server = make_server()
    data_dir = server.settings.data_dir
    before = identified_token(server, "rotating-visitor")
    old_kid = kid_of(before)

    rotated = run(data_dir, "keys", "rotate", "--json")
    assert rotated.returncode == 0, rotated.stderr
    new_kid = json.loads(rotated.stdout)["kid"]
    assert new_kid != old_kid

    # Step 2: restart every process; they sign with the new key and still
    # accept the old one's tokens.
    server.stop()
    again = make_server(data_dir=data_dir)
    app_id, aat = server.app_id, server.aat
    assert widget(again, before, "conversations.list", app_id=app_id).status_code == 200
    after = identified_token(again, "rotating-visitor", aat=aat)
    assert kid_of(after) == new_kid
    assert jwt_claims(after)["sub"] == jwt_claims(before)["sub"]

    # Step 3, once the longest session (24 h) has passed: retire the old key.
    retired = run(data_dir, "keys", "retire", old_kid, "--json")
    assert retired.returncode == 0, retired.stderr
    again.stop()
    last = make_server(data_dir=data_dir)
    r = widget(last, before, "conversations.list", app_id=app_id)
    assert r.status_code == 401, r.text
    assert widget(last, after, "conversations.list", app_id=app_id).status_code == 200
