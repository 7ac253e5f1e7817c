"""``auth-tokens.*`` over real HTTP: minting session tokens with an AAT,
managing AATs with a PAT, who may call what, and revoking a user's sessions."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.live_server import TLS, LiveServer

AAT_TYPE = "urn:devrev:params:oauth:token-type:aat"
PAT_TYPE = "urn:devrev:params:oauth:token-type:pat"
SESSION_TYPE = "urn:devrev:params:oauth:token-type:session"
GRANT = "urn:devrev:params:oauth:grant-type:token-issue"
SUBJECT_TYPES = [
    "urn:devrev:params:oauth:token-type:rev_info",
    "urn:devrev:params:oauth:token-type:revinfo",
    "urn:devrev:params:oauth:token-type:userinfo",
]


# --- helpers ------------------------------------------------------------------


def post(server: LiveServer, token: str | None, path: str, body: Any = None) -> httpx.Response:
    with server.client(token) as c:
        return c.post(path, json=body if body is not None else {})


def get(server: LiveServer, token: str | None, path: str, **params: Any) -> httpx.Response:
    with server.client(token) as c:
        return c.get(path, params=params)


def oauth_body(rev_info: dict[str, Any], subject_type: str = SUBJECT_TYPES[0]) -> dict[str, Any]:
    return {
        "grant_type": GRANT,
        "requested_token_type": SESSION_TYPE,
        "subject_token_type": subject_type,
        "subject_token": json.dumps(rev_info),
    }


def mint(server: LiveServer, user_ref: str, aat: str | None = None, **extra: Any) -> str:
    r = post(
        server,
        aat or server.aat,
        "/auth-tokens.create",
        {"rev_info": {"user_ref": user_ref}, **extra},
    )
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


def create_aat(server: LiveServer, **extra: Any) -> dict[str, Any]:
    body = {"requested_token_type": AAT_TYPE, "aud": [server.app_id], **extra}
    r = post(server, server.pat, "/auth-tokens.create", body)
    assert r.status_code == 201, r.text
    return r.json()


def token_key(token_id: str) -> str:
    """The bare key at the end of a token DON, as stored in access_tokens."""
    return token_id.rsplit("/", 1)[-1]


def rev_user(server: LiveServer, user_ref: str) -> dict[str, Any]:
    r = get(server, server.pat, "/rev-users.list", external_ref=user_ref)
    assert r.status_code == 200, r.text
    users = r.json()["rev_users"]
    assert len(users) == 1, users
    return users[0]


def info(server: LiveServer, token: str) -> httpx.Response:
    return get(server, token, "/auth-tokens.info")


def assert_error(
    r: httpx.Response,
    status: int,
    type_: str,
    *,
    field: str | None = None,
    says: str | None = None,
) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["type"] == type_, body
    assert isinstance(body["message"], str) and body["message"], body
    if field is not None:
        assert body.get("field_name") == field, body
    if says is not None:
        assert says in body["message"].lower(), body
    return body


def assert_session_response(r: httpx.Response, minutes: int = 60) -> str:
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == minutes * 60
    token = body["access_token"]
    assert isinstance(token, str) and token.count(".") == 2
    return token


def session_user_id(server: LiveServer, token: str) -> str:
    r = info(server, token)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["type"] == "rev_user"
    return r.json()["user"]["id"]


# --- 2. minting session tokens with an AAT ----------------------------------------------


def test_rev_info_form_mints_a_working_session_token(any_server: LiveServer) -> None:
    s = any_server
    r = post(
        s,
        s.aat,
        "/auth-tokens.create",
        {
            "rev_info": {
                "user_ref": "example@devrev.ai",
                "account_ref": "devrev.ai",
                "workspace_ref": "devrev-dev",
                "user_traits": {"email": "test-user@devrev.ai", "display_name": "Test User"},
            }
        },
    )
    token = assert_session_response(r)
    user = rev_user(s, "example@devrev.ai")
    assert user["is_verified"] is True
    assert user["display_name"] == "Test User"
    assert session_user_id(s, token) == user["id"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == s.app_id
    assert claims["sub"] == user["id"]


@pytest.mark.parametrize("subject_type", SUBJECT_TYPES, ids=lambda t: t.rsplit(":", 1)[-1])
def test_oauth_form_mints_a_session_token_for_the_same_user(
    server: LiveServer, subject_type: str
) -> None:
    first = mint(server, "oauth-user")
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        oauth_body(
            {"user_ref": "oauth-user", "user_traits": {"display_name": "OAuth"}}, subject_type
        ),
    )
    token = assert_session_response(r)
    user = rev_user(server, "oauth-user")  # exactly one: not duplicated
    assert user["display_name"] == "OAuth"
    assert session_user_id(server, token) == session_user_id(server, first) == user["id"]


def test_oauth_form_on_both_backends(any_server: LiveServer) -> None:
    s = any_server
    r = post(s, s.aat, "/auth-tokens.create", oauth_body({"user_ref": "oauth-both"}))
    token = assert_session_response(r)
    assert session_user_id(s, token) == rev_user(s, "oauth-both")["id"]


@pytest.mark.parametrize("minutes", [1, 15, 1440])
@pytest.mark.parametrize("form", ["rev_info", "oauth"])
def test_expires_in_mins_is_honoured(server: LiveServer, minutes: int, form: str) -> None:
    rev_info = {"user_ref": f"ttl-{form}-{minutes}"}
    body = {"rev_info": rev_info} if form == "rev_info" else oauth_body(rev_info)
    r = post(server, server.aat, "/auth-tokens.create", {**body, "expires_in_mins": minutes})
    token = assert_session_response(r, minutes)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(claims["exp"] - claims["iat"] - minutes * 60) <= 1
    assert abs(claims["exp"] - time.time() - minutes * 60) <= 30
    described = info(server, token).json()["token"]
    assert abs(described["expiry"] - described["issued_at"] - minutes * 60) <= 1


def test_default_session_lifetime_is_an_hour(server: LiveServer) -> None:
    r = post(server, server.aat, "/auth-tokens.create", {"rev_info": {"user_ref": "ttl-default"}})
    token = assert_session_response(r, 60)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert abs(claims["exp"] - claims["iat"] - 3600) <= 1


@pytest.mark.parametrize("minutes", [0, 1441, -5])
@pytest.mark.parametrize("form", ["rev_info", "oauth"])
def test_expires_in_mins_out_of_range_is_refused(
    server: LiveServer, minutes: int, form: str
) -> None:
    rev_info = {"user_ref": "ttl-bad"}
    body = {"rev_info": rev_info} if form == "rev_info" else oauth_body(rev_info)
    r = post(server, server.aat, "/auth-tokens.create", {**body, "expires_in_mins": minutes})
    assert_error(r, 400, "invalid_field", field="expires_in_mins")
    # Nothing was created by the refused call.
    assert get(server, server.pat, "/rev-users.list", external_ref="ttl-bad").json() == {
        "rev_users": []
    }


@pytest.mark.parametrize("header", ["Authorization", "authorization", "AUTHORIZATION"])
@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer ", "BEARER "])
def test_aat_is_accepted_bare_or_as_bearer_under_any_header_case(
    server: LiveServer, header: str, scheme: str
) -> None:
    with httpx.Client(verify=TLS, base_url=server.base_url, timeout=30) as c:
        r = c.post(
            "/auth-tokens.create",
            headers={header: scheme + server.aat},
            json={"rev_info": {"user_ref": "header-forms"}},
        )
    token = assert_session_response(r)
    with httpx.Client(verify=TLS, base_url=server.base_url, timeout=30) as c:
        r = c.get("/auth-tokens.info", headers={header: scheme + token})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["type"] == "rev_user"


@pytest.mark.parametrize(
    "subject_token",
    ["not json", "{user_ref: 'x'}", "", '{"user_ref": "x"', "[" * 10000 + "]" * 10000],
    ids=["words", "js-object", "empty", "truncated", "deeply-nested"],
)
def test_subject_token_that_is_not_json_is_refused(server: LiveServer, subject_token: str) -> None:
    body = {**oauth_body({}), "subject_token": subject_token}
    r = post(server, server.aat, "/auth-tokens.create", body)
    body = assert_error(r, 400, "invalid_field", field="subject_token")
    assert "json" in body["message"].lower() or "rev_info" in body["message"].lower()


@pytest.mark.parametrize("subject_token", ["[1, 2]", '"user"', "null", "42"])
def test_subject_token_json_that_is_not_an_object_is_refused(
    server: LiveServer, subject_token: str
) -> None:
    body = {**oauth_body({}), "subject_token": subject_token}
    r = post(server, server.aat, "/auth-tokens.create", body)
    assert r.status_code == 400, r.text
    assert r.json()["type"] in ("invalid_field", "bad_request")
    assert r.json().get("field_name") == "subject_token"


def test_subject_token_errors_name_the_path_inside_it(server: LiveServer) -> None:
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        oauth_body({"user_ref": "u", "bogus": 1}),
    )
    assert_error(r, 400, "invalid_field", field="subject_token.bogus")
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        oauth_body({"user_ref": "u", "user_traits": {"phone_numbers": ["12"]}}),
    )
    assert_error(r, 400, "invalid_field", field="subject_token.user_traits.phone_numbers[0]")
    r = post(server, server.aat, "/auth-tokens.create", oauth_body({"account_ref": "a"}))
    assert_error(r, 400, "missing_required_field", field="subject_token.user_ref")


def test_subject_token_without_subject_token_type_is_refused(server: LiveServer) -> None:
    body = oauth_body({"user_ref": "no-type"})
    del body["subject_token_type"]
    r = post(server, server.aat, "/auth-tokens.create", body)
    assert_error(r, 400, "missing_required_field", field="subject_token_type")


def test_unknown_subject_token_type_is_refused(server: LiveServer) -> None:
    body = {
        **oauth_body({"user_ref": "bad-type"}),
        "subject_token_type": "urn:devrev:params:oauth:token-type:jwt",
    }
    r = post(server, server.aat, "/auth-tokens.create", body)
    assert_error(r, 400, "value_not_permitted", field="subject_token_type")


def test_rev_info_and_subject_token_together_are_refused(server: LiveServer) -> None:
    body = {**oauth_body({"user_ref": "both-a"}), "rev_info": {"user_ref": "both-b"}}
    r = post(server, server.aat, "/auth-tokens.create", body)
    body = assert_error(r, 400, "invalid_field", field="subject_token")
    assert "rev_info" in body["message"]
    for ref in ("both-a", "both-b"):
        assert (
            get(server, server.pat, "/rev-users.list", external_ref=ref).json()["rev_users"] == []
        )


def test_neither_rev_info_nor_subject_token_is_refused(server: LiveServer) -> None:
    r = post(server, server.aat, "/auth-tokens.create", {"expires_in_mins": 5})
    assert_error(r, 400, "missing_required_field", field="rev_info")


def test_rev_info_without_user_ref_is_refused(server: LiveServer) -> None:
    r = post(server, server.aat, "/auth-tokens.create", {"rev_info": {"account_ref": "acme"}})
    assert_error(r, 400, "missing_required_field", field="rev_info.user_ref")


@pytest.mark.parametrize("form", ["rev_info", "oauth"])
def test_user_id_of_an_existing_user_mints_a_token_for_that_user(
    server: LiveServer, form: str
) -> None:
    mint(server, "by-id")
    user = rev_user(server, "by-id")
    rev_info = {"user_id": user["id"], "user_traits": {"display_name": "Renamed"}}
    body = {"rev_info": rev_info} if form == "rev_info" else oauth_body(rev_info)
    token = assert_session_response(post(server, server.aat, "/auth-tokens.create", body))
    assert session_user_id(server, token) == user["id"]
    again = rev_user(server, "by-id")
    assert again["id"] == user["id"]
    assert again["display_name"] == "Renamed"
    assert len(get(server, server.pat, "/rev-users.list").json()["rev_users"]) == 1


@pytest.mark.parametrize(
    ("form", "field"), [("rev_info", "rev_info.user_id"), ("oauth", "subject_token.user_id")]
)
@pytest.mark.parametrize("kind", ["nobody", "not-an-id"])
def test_user_id_of_nobody_is_refused(server: LiveServer, form: str, field: str, kind: str) -> None:
    mint(server, "somebody")
    existing = rev_user(server, "somebody")["id"]
    user_id = existing.rsplit("/", 1)[0] + "/987654" if kind == "nobody" else "nobody"
    rev_info = {"user_id": user_id}
    body = {"rev_info": rev_info} if form == "rev_info" else oauth_body(rev_info)
    r = post(server, server.aat, "/auth-tokens.create", body)
    assert_error(r, 400, "invalid_id", field=field)
    assert len(get(server, server.pat, "/rev-users.list").json()["rev_users"]) == 1


def test_org_ref_and_org_traits_alias_workspace_ref_and_traits(server: LiveServer) -> None:
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        {
            "rev_info": {
                "user_ref": "alias-a",
                "org_ref": "acme-ws",
                "org_traits": {"display_name": "Acme Workspace", "tier": "gold"},
            }
        },
    )
    assert_session_response(r)
    orgs = get(server, server.pat, "/rev-orgs.list", external_ref="acme-ws").json()["rev_orgs"]
    assert len(orgs) == 1
    assert orgs[0]["display_name"] == "Acme Workspace"
    assert orgs[0]["tier"] == "gold"
    assert rev_user(server, "alias-a")["rev_org"]["id"] == orgs[0]["id"]

    # The same workspace named the new way is the same record.
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        {
            "rev_info": {
                "user_ref": "alias-b",
                "workspace_ref": "acme-ws",
                "workspace_traits": {"tier": "platinum"},
            }
        },
    )
    assert_session_response(r)
    orgs = get(server, server.pat, "/rev-orgs.list").json()["rev_orgs"]
    assert len(orgs) == 1
    assert orgs[0]["tier"] == "platinum"
    assert orgs[0]["display_name"] == "Acme Workspace"
    assert rev_user(server, "alias-b")["rev_org"]["id"] == orgs[0]["id"]

    # And in the OAuth form.
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        oauth_body({"user_ref": "alias-c", "org_ref": "acme-ws"}),
    )
    assert_session_response(r)
    assert rev_user(server, "alias-c")["rev_org"]["id"] == orgs[0]["id"]


def test_conflicting_org_ref_and_workspace_ref_are_refused(server: LiveServer) -> None:
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        {"rev_info": {"user_ref": "u", "org_ref": "one", "workspace_ref": "two"}},
    )
    assert_error(r, 400, "invalid_field", field="rev_info.org_ref")
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        {
            "rev_info": {
                "user_ref": "u",
                "workspace_ref": "one",
                "org_traits": {"tier": "x"},
                "workspace_traits": {"tier": "y"},
            }
        },
    )
    assert_error(r, 400, "invalid_field", field="rev_info.org_traits")


# --- 3. AATs -------------------------------------------------------------------------------


def _listed(server: LiveServer, token_id: str, **params: Any) -> tuple[dict[str, Any], str]:
    r = get(server, server.pat, "/auth-tokens.list", **params)
    assert r.status_code == 200, r.text
    found = [t for t in r.json()["tokens"] if t["token_id"] == token_id]
    assert len(found) == 1, r.json()
    return found[0], r.text


def test_aat_lifecycle(any_server: LiveServer) -> None:
    s = any_server
    created = create_aat(s, token_hint="shop backend")
    secret = created["access_token"]
    assert secret.startswith("opl_aat_")
    assert len(secret) >= len("opl_aat_") + 40
    assert created["token_type"] == "bearer"
    assert created["expires_in"] == 365 * 86400
    assert created["client_id"] == s.app_id
    token_id = created["token_id"]
    assert token_id.startswith("don:identity:openplug:")

    # Works at once.
    session = mint(s, "aat-life", aat=secret)
    assert session_user_id(s, session) == rev_user(s, "aat-life")["id"]

    # Listed with metadata, never the secret.
    listed, text = _listed(s, token_id)
    assert secret not in text
    assert secret[len("opl_aat_") :] not in text
    assert listed["requested_token_type"] == AAT_TYPE
    assert listed["client_id"] == s.app_id
    assert listed["token_hint"] == "shop backend"
    assert listed["status"] == "active"
    assert listed["revoked_at"] is None
    assert listed["last_used_at"] is not None
    assert ":devu/" in listed["subject"]
    issued = datetime.fromisoformat(listed["issued_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(listed["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - issued) - timedelta(days=365)) < timedelta(seconds=2)
    assert abs(datetime.now(UTC) - issued) < timedelta(minutes=5)

    # get, by DON and by bare key.
    for ref in (token_id, token_key(token_id)):
        r = get(s, s.pat, "/auth-tokens.get", token_id=ref)
        assert r.status_code == 200, r.text
        assert r.json()["token"]["token_id"] == token_id
        assert secret not in r.text
    r = post(s, s.pat, "/auth-tokens.get", {"token_id": token_id})
    assert r.status_code == 200, r.text
    assert r.json()["token"] == listed

    # update the hint.
    r = post(s, s.pat, "/auth-tokens.update", {"token_id": token_id, "token_hint": "renamed"})
    assert r.status_code == 200, r.text
    assert r.json()["token"]["token_hint"] == "renamed"
    assert secret not in r.text
    assert get(s, s.pat, "/auth-tokens.get", token_id=token_id).json()["token"]["token_hint"] == (
        "renamed"
    )

    # delete revokes it.
    r = post(s, s.pat, "/auth-tokens.delete", {"token_id": token_id})
    assert r.status_code == 200, r.text
    r = post(s, secret, "/auth-tokens.create", {"rev_info": {"user_ref": "aat-life"}})
    body = assert_error(r, 401, "unauthenticated", says="revoked")
    assert secret not in r.text
    assert secret not in json.dumps(body)
    assert_error(info(s, secret), 401, "unauthenticated", says="revoked")
    listed, _ = _listed(s, token_id)
    assert listed["status"] == "revoked"
    assert listed["revoked_at"] is not None

    # The other AAT of the app is untouched.
    mint(s, "aat-life")


def test_aat_last_used_at_is_set_by_its_first_use(server: LiveServer) -> None:
    created = create_aat(server)
    token_id = created["token_id"]
    r = get(server, server.pat, "/auth-tokens.get", token_id=token_id)
    assert r.json()["token"]["last_used_at"] is None
    mint(server, "uses-aat", aat=created["access_token"])
    used = get(server, server.pat, "/auth-tokens.get", token_id=token_id).json()["token"]
    assert used["last_used_at"] is not None


def test_aat_can_be_found_by_app_in_the_list(server: LiveServer) -> None:
    created = create_aat(server, token_hint="filtered")
    listed, _ = _listed(server, created["token_id"], client_id=server.app_id)
    assert listed["token_hint"] == "filtered"
    r = get(server, server.pat, "/auth-tokens.list", requested_token_type=PAT_TYPE)
    assert r.status_code == 200, r.text
    assert created["token_id"] not in r.text
    assert all(t["requested_token_type"] == PAT_TYPE for t in r.json()["tokens"])
    assert server.pat not in r.text


@pytest.mark.parametrize("days", [1, 30, 1825])
def test_aat_lifetime_in_days_is_honoured(server: LiveServer, days: int) -> None:
    created = create_aat(server, expires_in=days)
    assert created["expires_in"] == days * 86400
    t = get(server, server.pat, "/auth-tokens.get", token_id=created["token_id"]).json()["token"]
    issued = datetime.fromisoformat(t["issued_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(t["expires_at"].replace("Z", "+00:00"))
    assert abs((expires - issued) - timedelta(days=days)) < timedelta(seconds=2)


@pytest.mark.parametrize("days", [0, 1826])
def test_aat_lifetime_out_of_range_is_refused(server: LiveServer, days: int) -> None:
    r = post(
        server,
        server.pat,
        "/auth-tokens.create",
        {"requested_token_type": AAT_TYPE, "aud": [server.app_id], "expires_in": days},
    )
    assert_error(r, 400, "invalid_field", field="expires_in")


def test_aat_for_an_unknown_app_is_refused(server: LiveServer) -> None:
    r = post(
        server,
        server.pat,
        "/auth-tokens.create",
        {"requested_token_type": AAT_TYPE, "aud": ["app_doesnotexist"]},
    )
    assert_error(r, 400, "invalid_field", field="aud")


def test_aat_can_revoke_itself(server: LiveServer) -> None:
    secret = create_aat(server)["access_token"]
    r = post(server, secret, "/auth-tokens.delete", {})
    assert r.status_code == 200, r.text
    assert_error(info(server, secret), 401, "unauthenticated", says="revoked")
    assert info(server, server.aat).status_code == 200


async def test_expired_aat_is_refused(any_server: LiveServer) -> None:
    s = any_server
    created = create_aat(s)
    secret = created["access_token"]
    mint(s, "before-expiry", aat=secret)
    await s.sql(
        "UPDATE access_tokens SET expires_at = created_at WHERE token_id = :key",
        key=token_key(created["token_id"]),
    )
    r = post(s, secret, "/auth-tokens.create", {"rev_info": {"user_ref": "after-expiry"}})
    assert_error(r, 401, "unauthenticated", says="expired")
    assert secret not in r.text
    listed, _ = _listed(s, created["token_id"])
    assert listed["status"] == "expired"
    assert get(s, s.pat, "/rev-users.list", external_ref="after-expiry").json()["rev_users"] == []


def test_revoked_aat_is_refused_before_anything_its_body_says(any_server: LiveServer) -> None:
    """A returning visitor's identify reads the AAT and the visitor's rows
    in one statement: a revoked AAT is still refused by its next request,
    for a user that exists, by ref or by id, and before its body is judged
    (a 401, not the 400 or 409 the body would earn)."""
    s = any_server
    created = create_aat(s)
    secret = created["access_token"]
    mint(s, "known-before-revoke", aat=secret)
    user_id = rev_user(s, "known-before-revoke")["id"]
    r = post(s, s.pat, "/auth-tokens.delete", {"token_id": created["token_id"]})
    assert r.status_code == 200, r.text
    for body in (
        {"rev_info": {"user_ref": "known-before-revoke"}},
        {"rev_info": {"user_id": user_id}},
        {"rev_info": {"user_id": "not-an-id"}},
        {"rev_info": {"account_traits": {"display_name": "no account_ref"}}},
        {"rev_info": {"user_ref": 5}},
    ):
        r = post(s, secret, "/auth-tokens.create", body)
        assert_error(r, 401, "unauthenticated", says="revoked")
    # A live AAT is told what is wrong with the same bodies.
    r = post(s, s.aat, "/auth-tokens.create", {"rev_info": {"user_id": "not-an-id"}})
    assert_error(r, 400, "invalid_id", field="rev_info.user_id")
    mint(s, "known-before-revoke")


@pytest.mark.parametrize("prefix", ["opl_aat_", "opl_pat_"])
def test_unknown_access_token_is_refused(server: LiveServer, prefix: str) -> None:
    fake = prefix + "x" * 43
    r = post(server, fake, "/auth-tokens.create", {"rev_info": {"user_ref": "u"}})
    assert_error(r, 401, "unauthenticated", says="unknown")
    assert fake not in r.text
    # A real secret with one character changed is just as unknown.
    near = server.aat[:-1] + ("A" if server.aat[-1] != "A" else "B")
    assert_error(info(server, near), 401, "unauthenticated", says="unknown")


async def test_only_a_keyed_digest_of_the_aat_is_stored(server: LiveServer) -> None:
    created = create_aat(server, token_hint="digest check")
    secret = created["access_token"]
    mint(server, "digest-user", aat=secret)
    rows = await server.sql(
        "SELECT digest, token_hint FROM access_tokens WHERE token_id = :key",
        key=token_key(created["token_id"]),
    )
    assert len(rows) == 1
    digest, hint = rows[0]
    assert digest != secret
    assert secret not in digest
    assert secret[len("opl_aat_") :] not in digest
    assert len(digest) == 64
    int(digest, 16)
    # Keyed: a leaked database does not let anyone test guesses offline.
    assert digest != hashlib.sha256(secret.encode()).hexdigest()
    assert hint == "digest check"

    db_file = server.settings.data_dir / "openplug.db"
    files = [db_file, db_file.with_name("openplug.db-wal")]
    contents = b"".join(p.read_bytes() for p in files if p.exists())
    assert b"digest-user" in contents  # the files read are the live database
    for s in (secret, server.aat, server.pat):
        assert s.encode() not in contents
        assert s[len("opl_aat_") :].encode() not in contents


def test_get_of_an_unknown_token_is_not_found(server: LiveServer) -> None:
    r = get(server, server.pat, "/auth-tokens.get", token_id="0123456789abcdef")
    assert_error(r, 404, "not_found")
    r = post(server, server.pat, "/auth-tokens.delete", {"token_id": "0123456789abcdef"})
    assert_error(r, 404, "not_found")


# --- 4. who may call what --------------------------------------------------------------------

PAT_ONLY = [
    ("GET", "/rev-users.list", None),
    ("GET", "/accounts.list", None),
    ("GET", "/rev-orgs.list", None),
    ("GET", "/schemas.custom.list", None),
    ("GET", "/auth-tokens.list", None),
    ("POST", "/auth-tokens.list", {}),
    ("POST", "/auth-tokens.create", {"requested_token_type": AAT_TYPE}),
]
# What the PAT sends to show the same call succeeds for it.
PAT_BODIES = {"/auth-tokens.create": {"requested_token_type": AAT_TYPE, "aud": ["{app_id}"]}}


def _call(
    server: LiveServer, token: str | None, method: str, path: str, body: Any
) -> httpx.Response:
    with server.client(token) as c:
        if method == "GET":
            return c.get(path)
        return c.post(path, json=body)


@pytest.mark.parametrize("credential", ["aat", "session"])
@pytest.mark.parametrize(
    ("method", "path", "body"), PAT_ONLY, ids=[f"{m} {p}" for m, p, _ in PAT_ONLY]
)
def test_pat_only_calls_refuse_aats_and_session_tokens(
    server: LiveServer, credential: str, method: str, path: str, body: Any
) -> None:
    mint(server, "someone")
    token = server.aat if credential == "aat" else mint(server, "forbidden-caller")
    r = _call(server, token, method, path, body)
    assert_error(r, 403, "forbidden", says="pat")
    # The PAT itself is let in.
    pat_body = PAT_BODIES.get(path, body)
    if pat_body is not None and "aud" in pat_body:
        pat_body = {**pat_body, "aud": [server.app_id]}
    ok = _call(server, server.pat, method, path, pat_body)
    assert ok.status_code in (200, 201), ok.text


@pytest.mark.parametrize("credential", ["aat", "session"])
def test_revoke_sessions_and_token_management_refuse_non_pats(
    server: LiveServer, credential: str
) -> None:
    session = mint(server, "victim")
    user_id = rev_user(server, "victim")["id"]
    token = server.aat if credential == "aat" else session
    aat_id = get(server, server.pat, "/auth-tokens.list").json()["tokens"][0]["token_id"]
    for path, body in [
        ("/rev-users.revoke-sessions", {"id": user_id}),
        ("/auth-tokens.get", {"token_id": aat_id}),
        ("/auth-tokens.update", {"token_id": aat_id, "token_hint": "hijacked"}),
        ("/auth-tokens.delete", {"token_id": aat_id}),
    ]:
        assert_error(post(server, token, path, body), 403, "forbidden")
    assert info(server, session).status_code == 200
    assert info(server, server.aat).status_code == 200
    listed, _ = _listed(server, aat_id)
    assert listed["token_hint"] != "hijacked"


def test_session_token_cannot_mint_tokens(server: LiveServer) -> None:
    session = mint(server, "session-minter")
    r = post(server, session, "/auth-tokens.create", {"rev_info": {"user_ref": "other"}})
    assert_error(r, 403, "forbidden", says="aat")
    r = post(server, session, "/auth-tokens.create", oauth_body({"user_ref": "other"}))
    assert_error(r, 403, "forbidden", says="aat")
    r = post(server, session, "/auth-tokens.create", {"requested_token_type": AAT_TYPE})
    assert_error(r, 403, "forbidden", says="pat")
    assert (
        get(server, server.pat, "/rev-users.list", external_ref="other").json()["rev_users"] == []
    )


def test_aat_cannot_mint_an_aat(server: LiveServer) -> None:
    before = [t["token_id"] for t in get(server, server.pat, "/auth-tokens.list").json()["tokens"]]
    r = post(
        server,
        server.aat,
        "/auth-tokens.create",
        {"requested_token_type": AAT_TYPE, "aud": [server.app_id]},
    )
    body = assert_error(r, 403, "forbidden", says="pat")
    assert "access_token" not in body
    after = get(server, server.pat, "/auth-tokens.list").json()["tokens"]
    assert [t["token_id"] for t in after] == before


@pytest.mark.parametrize("form", ["rev_info", "oauth"])
def test_pat_cannot_mint_a_session_token(server: LiveServer, form: str) -> None:
    rev_info = {"user_ref": "pat-minted"}
    body = {"rev_info": rev_info} if form == "rev_info" else oauth_body(rev_info)
    r = post(server, server.pat, "/auth-tokens.create", body)
    assert_error(r, 403, "forbidden", says="aat")
    assert get(server, server.pat, "/rev-users.list").json()["rev_users"] == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/auth-tokens.create", {"rev_info": {"user_ref": "anon"}}),
        ("GET", "/auth-tokens.info", None),
        ("GET", "/auth-tokens.list", None),
        ("GET", "/rev-users.list", None),
    ],
)
def test_no_credential_is_unauthenticated(
    server: LiveServer, method: str, path: str, body: Any
) -> None:
    assert_error(_call(server, None, method, path, body), 401, "unauthenticated", says="missing")


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer a b", "Basic dXNlcjpwYXNz", "Token opl_aat_abc", "opl_aat_ x"],
)
def test_malformed_credential_is_unauthenticated(server: LiveServer, value: str) -> None:
    r = _call(server, value, "POST", "/auth-tokens.create", {"rev_info": {"user_ref": "m"}})
    body = assert_error(r, 401, "unauthenticated")
    assert "malformed" in body["message"] or "missing" in body["message"]
    assert_error(_call(server, value, "GET", "/rev-users.list", None), 401, "unauthenticated")


@pytest.mark.parametrize("value", ["hello", "abc.def", "opl_xyz_123"])
def test_unrecognised_credential_is_unauthenticated(server: LiveServer, value: str) -> None:
    r = info(server, value)
    assert_error(r, 401, "unauthenticated", says="unrecognised")


# --- 5. auth-tokens.info ---------------------------------------------------------------------


def test_info_says_who_each_token_belongs_to(server: LiveServer) -> None:
    pat = info(server, server.pat)
    assert pat.status_code == 200, pat.text
    pat_body = pat.json()
    assert pat_body["user"]["type"] == "dev_user"
    assert pat_body["token"]["type"] == "pat"
    assert ":devu/" in pat_body["user"]["id"]

    with server.client(server.aat) as c:
        aat = c.post("/auth-tokens.info")
    assert aat.status_code == 200, aat.text
    aat_body = aat.json()
    assert aat_body["user"]["type"] == "dev_user"
    assert aat_body["user"]["id"] == pat_body["user"]["id"]  # both made by the admin
    assert aat_body["token"]["type"] == "aat"
    assert aat_body["token"]["client_id"] == server.app_id
    assert aat_body["organization"] == pat_body["organization"]
    assert server.aat not in aat.text

    session = mint(server, "info-user")
    mint(server, "info-other")
    s = info(server, session)
    assert s.status_code == 200, s.text
    s_body = s.json()
    user = rev_user(server, "info-user")
    assert s_body["user"]["type"] == "rev_user"
    assert s_body["user"]["id"] == user["id"]
    assert s_body["user"]["display_id"] == user["display_id"]
    assert s_body["token"]["type"] == "session"
    assert s_body["token"]["subject"] == user["id"]
    assert s_body["token"]["client_id"] == server.app_id
    assert s_body["organization"] == pat_body["organization"]


def test_info_of_a_new_aat_names_its_token(server: LiveServer) -> None:
    created = create_aat(server)
    body = info(server, created["access_token"]).json()
    assert body["token"]["token_id"] == created["token_id"]
    assert body["token"]["type"] == "aat"


# --- 6. rev-users.revoke-sessions ------------------------------------------------------------


def test_revoke_sessions_ends_earlier_tokens_only(any_server: LiveServer) -> None:
    s = any_server
    before = mint(s, "revoked-user")
    bystander = mint(s, "bystander")
    user_id = rev_user(s, "revoked-user")["id"]
    assert info(s, before).status_code == 200

    r = post(s, s.pat, "/rev-users.revoke-sessions", {"id": user_id})
    assert r.status_code == 200, r.text
    after = mint(s, "revoked-user")

    assert_error(info(s, before), 401, "unauthenticated", says="revoked")
    assert session_user_id(s, after) == user_id
    assert info(s, bystander).status_code == 200


def test_revoke_sessions_accepts_the_display_id_and_can_repeat(server: LiveServer) -> None:
    first = mint(server, "twice")
    user = rev_user(server, "twice")
    assert (
        post(server, server.pat, "/rev-users.revoke-sessions", {"id": user["id"]}).status_code
        == 200
    )
    second = mint(server, "twice")
    r = post(server, server.pat, "/rev-users.revoke-sessions", {"id": user["display_id"]})
    assert r.status_code == 200, r.text
    third = mint(server, "twice")
    assert_error(info(server, first), 401, "unauthenticated", says="revoked")
    assert_error(info(server, second), 401, "unauthenticated", says="revoked")
    assert info(server, third).status_code == 200


def test_revoke_sessions_of_an_unknown_user(server: LiveServer) -> None:
    mint(server, "real")
    existing = rev_user(server, "real")["id"]
    r = post(
        server,
        server.pat,
        "/rev-users.revoke-sessions",
        {"id": existing.rsplit("/", 1)[0] + "/987654"},
    )
    assert_error(r, 404, "not_found")
    r = post(server, server.pat, "/rev-users.revoke-sessions", {"id": "garbage"})
    assert_error(r, 400, "invalid_id", field="id")


# --- 7. the hand-served auth-tokens.create route -------------------------------------------
# FastAPI documents it but does not serve it (see ``identity.routes``): what
# FastAPI's response handling and schema generation would have given must
# not change.


def test_create_responses_are_compact_json_in_field_order(server: LiveServer) -> None:
    """The bytes ``JSONResponse(model_dump(exclude_none=True))`` rendered."""
    session = post(server, server.aat, "/auth-tokens.create", {"rev_info": {"user_ref": "bytes"}})
    aat = post(
        server,
        server.pat,
        "/auth-tokens.create",
        {"requested_token_type": AAT_TYPE, "aud": [server.app_id]},
    )
    for r, keys in (
        (session, ["access_token", "token_type", "expires_in"]),
        (aat, ["access_token", "token_type", "expires_in", "client_id", "token_id"]),
    ):
        assert r.status_code == 201, r.text
        assert r.headers["content-type"] == "application/json"
        body = r.json()
        assert list(body) == keys
        rendered = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        assert r.content == rendered.encode()
        assert r.headers["content-length"] == str(len(r.content))


def test_create_is_documented_as_a_fastapi_route(server: LiveServer) -> None:
    with server.client() as c:
        spec = c.get("/openapi.json").json()
    operation = spec["paths"]["/auth-tokens.create"]["post"]
    assert operation["operationId"] == "auth_tokens_create_auth_tokens_create_post"
    assert operation["summary"] == "Mint a session token (AAT + rev_info) or an AAT (PAT)"
    assert operation["tags"] == ["auth-tokens"]
    assert operation["description"].startswith("Authenticated and parsed by hand")
    assert operation["requestBody"] == {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/AuthTokensCreateRequest"}}
        },
    }
    created = operation["responses"]["201"]
    assert created["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AuthTokensCreateResponse"
    }
    assert "parameters" not in operation  # the Request argument is not a parameter
    assert next(iter(spec["paths"])) == "/auth-tokens.create"


def test_create_answers_other_methods_as_before(server: LiveServer) -> None:
    with server.client(server.aat) as c:
        r = c.get("/auth-tokens.create")
    assert r.status_code == 405
    assert r.json()["type"] == "bad_request"
    assert r.headers["allow"] == "POST"
