"""Session tokens: the JWTs a widget holds for one rev user of one app.

First the pure functions of ``session_tokens`` and ``secrets_file`` with a
key ring built here, then the same refusals through a real server's
``auth-tokens.info`` (the one endpoint that accepts any token).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import stat
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from jwt.exceptions import InvalidKeyError

from openplug.errors import Unauthenticated
from openplug.identity.secrets_file import (
    ServerSecrets,
    SigningKey,
    ensure_secrets,
    load_secrets,
    retire_signing_key,
    rotate_signing_key,
)
from openplug.identity.session_tokens import (
    _KeptKeyHMAC,
    decode_session_token,
    issuer,
    mint_session_token,
)
from tests.conversations.helpers import anonymous_session
from tests.live_server import LiveServer

ORG = "a1b2c3d4e5f6"
APP = "app_first"
OTHER_APP = "app_second"
USER_KEY = 42
USER_DON = f"don:identity:openplug:devo/{ORG}:revu/{USER_KEY}"
USER_CREATED_AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------


def _key(kid: str) -> SigningKey:
    return SigningKey(
        kid=kid, secret=secrets.token_bytes(32), created_at="2024-01-01T00:00:00+00:00"
    )


@pytest.fixture
def ring() -> ServerSecrets:
    """A key ring with an active key and an older one that still verifies."""
    active, old = _key("activekid"), _key("oldkid")
    return ServerSecrets(
        token_pepper=secrets.token_bytes(32),
        active_kid=active.kid,
        keys={active.kid: active, old.kid: old},
    )


def mint(ring: ServerSecrets, *, minutes: int = 60, app_id: str = APP) -> str:
    return mint_session_token(
        ring,
        org_id=ORG,
        rev_user_key=USER_KEY,
        rev_user_created_at=USER_CREATED_AT,
        rev_user_don=USER_DON,
        app_id=app_id,
        expires_in_mins=minutes,
        verified=True,
    )


def decode(ring: ServerSecrets, token: str, app_id: str | None = APP) -> Any:
    return decode_session_token(ring, token, org_id=ORG, app_id=app_id)


def refused(ring: ServerSecrets, token: str, app_id: str | None = APP) -> str:
    """Decode must refuse with a 401; returns the message."""
    with pytest.raises(Unauthenticated) as info:
        decode(ring, token, app_id)
    assert info.value.status_code == 401
    return info.value.message


def claims_for(
    org_id: str, user_key: int, app_id: str, user_created: int = 0, **overrides: Any
) -> dict[str, Any]:
    """Claims exactly as openplug mints them, valid for ten minutes."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer(org_id),
        "sub": f"don:identity:openplug:devo/{org_id}:revu/{user_key}",
        "aud": app_id,
        "iat": now,
        "exp": now + 600,
        "jti": secrets.token_hex(12),
        "typ": "session",
        "uid": user_key,
        "ucr": user_created,
        "ver": True,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A JWT with an empty signature, built by hand (PyJWT refuses to)."""
    h = b64url(json.dumps(header).encode())
    p = b64url(json.dumps(claims).encode())
    return f"{h}.{p}."


def rs256(claims: dict[str, Any], kid: str) -> str:
    """An RS256-labelled token with a signature-sized blob (no RSA library here)."""
    h = b64url(json.dumps({"alg": "RS256", "kid": kid, "typ": "JWT"}).encode())
    p = b64url(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url(secrets.token_bytes(256))}"


# --- minting and decoding ---------------------------------------------------------


def test_minted_token_decodes_to_its_user_and_app(ring: ServerSecrets) -> None:
    before = datetime.now(UTC)
    token = mint(ring, minutes=30)
    claims = decode(ring, token)
    assert claims.rev_user_key == USER_KEY
    assert claims.app_id == APP
    assert claims.verified is True
    assert len(claims.jti) >= 16
    lifetime = (claims.expires_at - claims.issued_at).total_seconds()
    assert 30 * 60 - 1 <= lifetime <= 30 * 60 + 1
    assert abs((claims.issued_at - before).total_seconds()) < 5
    raw = jwt.decode(token, options={"verify_signature": False})
    assert raw["sub"] == USER_DON
    assert raw["aud"] == APP
    assert raw["iss"] == issuer(ORG)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "kid": "activekid", "typ": "JWT"}


def test_minted_token_is_exactly_what_pyjwt_encode_gives(ring: ServerSecrets) -> None:
    """Minting signs with a kept, already checked key; the token must be
    the one ``jwt.encode`` would have produced from the same claims."""
    for minutes in (1, 60, 1440):
        token = mint(ring, minutes=minutes)
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        key = ring.keys[header["kid"]].secret
        again = jwt.encode(claims, key, algorithm="HS256", headers={"kid": header["kid"]})
        assert again == token


def test_a_kept_signing_key_is_checked_once_and_a_refused_one_every_time() -> None:
    algorithm = _KeptKeyHMAC()
    pem = b"-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD\n-----END PUBLIC KEY-----"
    for _ in range(2):
        with pytest.raises(InvalidKeyError):
            algorithm.prepare_key(pem)
        with pytest.raises(InvalidKeyError):
            algorithm.prepare_key(b"")
    secret = secrets.token_bytes(32)
    assert algorithm.prepare_key(secret) == secret
    assert algorithm.prepare_key(secret) == secret
    for _ in range(_KeptKeyHMAC.MAX_KEPT * 2):
        algorithm.prepare_key(secrets.token_bytes(32))
    assert len(algorithm._kept) <= _KeptKeyHMAC.MAX_KEPT


def test_each_minted_token_is_distinct(ring: ServerSecrets) -> None:
    tokens = {mint(ring) for _ in range(20)}
    assert len(tokens) == 20
    assert len({decode(ring, t).jti for t in tokens}) == 20


def test_any_app_is_accepted_only_when_no_app_is_asked_for(ring: ServerSecrets) -> None:
    token = mint(ring, app_id=OTHER_APP)
    assert decode(ring, token, app_id=None).app_id == OTHER_APP


def test_another_apps_token_is_refused(ring: ServerSecrets) -> None:
    token = mint(ring, app_id=OTHER_APP)
    assert "another app" in refused(ring, token, app_id=APP)


def test_expired_token_is_refused(ring: ServerSecrets) -> None:
    key = ring.active_key
    past = int(time.time()) - 3600
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP, iat=past, exp=past + 60),
        key.secret,
        algorithm="HS256",
        headers={"kid": key.kid},
    )
    assert "expired" in refused(ring, token)


def test_a_token_verified_before_is_still_held_to_its_expiry_app_and_key(
    ring: ServerSecrets,
) -> None:
    """A verified token's signature is kept, not its acceptance: each call
    checks the clock, the app it asks for and the key ring again."""
    expiring = mint(ring, minutes=0)  # exp is the current second: expired at once
    assert "expired" in refused(ring, expiring)
    assert "expired" in refused(ring, expiring)
    token = mint(ring)
    assert decode(ring, token).rev_user_key == USER_KEY
    assert "another app" in refused(ring, token, app_id=OTHER_APP)
    del ring.keys[ring.active_kid]
    assert "unknown key" in refused(ring, token)


def test_control_token_built_like_the_forgeries_is_accepted(ring: ServerSecrets) -> None:
    # The refusals below differ from this token in one respect each.
    key = ring.active_key
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP), key.secret, algorithm="HS256", headers={"kid": key.kid}
    )
    assert decode(ring, token).rev_user_key == USER_KEY


def test_token_signed_by_an_unknown_kid_is_refused(ring: ServerSecrets) -> None:
    stranger = _key("strangerkid")
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP),
        stranger.secret,
        algorithm="HS256",
        headers={"kid": stranger.kid},
    )
    assert "unknown key" in refused(ring, token)


def test_token_without_a_kid_is_refused(ring: ServerSecrets) -> None:
    token = jwt.encode(claims_for(ORG, USER_KEY, APP), ring.active_key.secret, algorithm="HS256")
    assert "unknown key" in refused(ring, token)


def test_known_kid_but_signed_with_another_secret_is_refused(ring: ServerSecrets) -> None:
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP),
        secrets.token_bytes(32),
        algorithm="HS256",
        headers={"kid": ring.active_kid},
    )
    assert "invalid" in refused(ring, token)


def test_known_kid_but_signed_with_the_other_ring_key_is_refused(ring: ServerSecrets) -> None:
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP),
        ring.keys["oldkid"].secret,
        algorithm="HS256",
        headers={"kid": ring.active_kid},
    )
    assert "invalid" in refused(ring, token)


def test_tampered_payload_is_refused(ring: ServerSecrets) -> None:
    header, _, signature = mint(ring).split(".")
    forged = b64url(json.dumps(claims_for(ORG, USER_KEY + 1, APP)).encode())
    assert "invalid" in refused(ring, f"{header}.{forged}.{signature}")


def test_alg_none_is_refused(ring: ServerSecrets) -> None:
    token = unsigned({"alg": "none", "kid": ring.active_kid}, claims_for(ORG, USER_KEY, APP))
    assert "algorithm" in refused(ring, token)
    assert "algorithm" in refused(ring, token, app_id=None)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused(ring: ServerSecrets, alg: str) -> None:
    key = ring.active_key
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP), key.secret, algorithm=alg, headers={"kid": key.kid}
    )
    assert "algorithm" in refused(ring, token)


def test_rs256_token_is_refused(ring: ServerSecrets) -> None:
    token = rs256(claims_for(ORG, USER_KEY, APP), ring.active_kid)
    assert "algorithm" in refused(ring, token)


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_asymmetric_alg_in_header_with_hmac_signature_is_refused(
    ring: ServerSecrets, alg: str
) -> None:
    # Key confusion: an attacker relabels an HMAC token as RS/ES.
    good = mint(ring)
    _, payload, signature = good.split(".")
    header = b64url(json.dumps({"alg": alg, "kid": ring.active_kid, "typ": "JWT"}).encode())
    assert "algorithm" in refused(ring, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b.c", "...", "eyJhbGciOiJIUzI1NiJ9", "x" * 300, "é.é.é"],
)
def test_garbage_is_refused(ring: ServerSecrets, garbage: str) -> None:
    message = refused(ring, garbage)
    assert "malformed" in message or "invalid" in message


@pytest.mark.parametrize(
    "overrides",
    [
        {"typ": "refresh"},
        {"typ": None},
        {"uid": "42"},
        {"uid": None},
        {"uid": True},
        {"uid": 42.0},
        {"ucr": None},
        {"ucr": "0"},
        {"ucr": False},
        {"exp": str(int(time.time()) + 10**8)},  # (made at import: far ahead)
        {"exp": True},
        {"exp": float(int(time.time()) + 10**8)},
        {"iat": str(int(time.time()))},
        {"iat": False},
        {"ver": 1},
        {"ver": None},
        {"jti": 7},
        {"aud": [APP]},
        {"iss": "openplug:devo/someoneelse"},
        {"jti": None},
        {"sub": None},
    ],
    ids=["typ-refresh", "no-typ", "uid-string", "no-uid", "uid-true", "uid-float", "no-ucr",
         "ucr-string", "ucr-false", "exp-string", "exp-true", "exp-float", "iat-string",
         "iat-false", "ver-int", "no-ver", "jti-int", "aud-list", "other-issuer", "no-jti",
         "no-sub"],
)  # fmt: skip
def test_correctly_signed_but_wrong_claims_are_refused(
    ring: ServerSecrets, overrides: dict[str, Any]
) -> None:
    key = ring.active_key
    token = jwt.encode(
        claims_for(ORG, USER_KEY, APP, **overrides),
        key.secret,
        algorithm="HS256",
        headers={"kid": key.kid},
    )
    message = refused(ring, token)
    # (PyJWT reads ``"exp": true`` as 1 and calls it expired.)
    assert "invalid" in message or (overrides.get("exp") is True and "expired" in message)


def test_token_from_another_org_is_refused(ring: ServerSecrets) -> None:
    token = mint(ring)
    with pytest.raises(Unauthenticated):
        decode_session_token(ring, token, org_id="0000other000", app_id=APP)


# --- issue time versus sessions revocation -------------------------------------------
#
# rev-users.revoke-sessions stores utcnow() (microseconds) and
# verify_session_token refuses tokens whose issued_at is before it. So the
# issued_at a token carries must be on the right side of any revocation
# instant taken before or after minting.


def test_token_minted_before_a_revocation_counts_as_issued_before_it(
    ring: ServerSecrets,
) -> None:
    survivors = 0
    for _ in range(200):
        token = mint(ring)
        revoked_at = datetime.now(UTC)  # the revocation lands right after
        if not decode(ring, token).issued_at < revoked_at:
            survivors += 1
    assert survivors == 0, f"{survivors}/200 tokens minted before a revocation would survive it"


def test_token_minted_after_a_revocation_counts_as_issued_after_it(
    ring: ServerSecrets,
) -> None:
    refused_count = 0
    for _ in range(200):
        revoked_at = datetime.now(UTC)
        token = mint(ring)  # a fresh login right after the revocation
        if decode(ring, token).issued_at < revoked_at:
            refused_count += 1
    assert refused_count == 0, f"{refused_count}/200 fresh tokens would be taken as revoked"


# --- the secrets file and key rotation ------------------------------------------------


def test_secrets_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secrets.json"
    first, created = ensure_secrets(path)
    assert created is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created_again = ensure_secrets(path)
    assert created_again is False
    assert again == first
    assert len(first.token_pepper) == 32
    assert len(first.active_key.secret) == 32
    assert list(first.keys) == [first.active_kid]
    assert [p.name for p in path.parent.iterdir()] == ["secrets.json"]


def test_rotation_makes_a_new_active_key_and_old_tokens_still_verify(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    before, _ = ensure_secrets(path)
    old_token = mint(before)
    old_kid = before.active_kid

    new_key = rotate_signing_key(path)
    after = load_secrets(path)
    assert new_key.kid != old_kid
    assert after.active_kid == new_key.kid
    assert set(after.keys) == {old_kid, new_key.kid}
    assert after.token_pepper == before.token_pepper
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert decode(after, old_token).rev_user_key == USER_KEY
    new_token = mint(after)
    assert jwt.get_unverified_header(new_token)["kid"] == new_key.kid
    assert decode(after, new_token).rev_user_key == USER_KEY
    # A process that has not reloaded the file yet does not know the new key.
    assert "unknown key" in refused(before, new_token)


def test_retiring_a_key_ends_the_tokens_it_signed(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    before, _ = ensure_secrets(path)
    old_token = mint(before)
    rotate_signing_key(path)
    new_token = mint(load_secrets(path))

    retire_signing_key(path, before.active_kid)
    after = load_secrets(path)
    assert before.active_kid not in after.keys
    assert "unknown key" in refused(after, old_token)
    assert decode(after, new_token).rev_user_key == USER_KEY


def test_retiring_the_active_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    ensure_secrets(path)
    rotate_signing_key(path)
    active = load_secrets(path).active_kid
    token = mint(load_secrets(path))
    with pytest.raises(ValueError, match="active"):
        retire_signing_key(path, active)
    still = load_secrets(path)
    assert still.active_kid == active
    assert decode(still, token).rev_user_key == USER_KEY


def test_retiring_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    ensure_secrets(path)
    before = path.read_bytes()
    with pytest.raises(KeyError):
        retire_signing_key(path, "nosuchkid")
    assert path.read_bytes() == before


# --- the same refusals through a real server ------------------------------------------


def _session(server: LiveServer, user_ref: str = "st-user") -> str:
    with server.client(server.aat) as c:
        r = c.post("/auth-tokens.create", json={"rev_info": {"user_ref": user_ref}})
    assert r.status_code == 201, r.text
    return r.json()["access_token"]


def _info(server: LiveServer, token: str) -> httpx.Response:
    with server.client(token) as c:
        return c.get("/auth-tokens.info")


def _assert_401(r: httpx.Response, reason: str, token: str) -> None:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["type"] == "unauthenticated"
    assert reason in body["message"].lower()
    assert token not in r.text


class Forger:
    """Builds session tokens for a live server's real user with its real key."""

    def __init__(self, server: LiveServer) -> None:
        assert server.runtime is not None
        self.server = server
        self.org_id = server.runtime.org_id
        self.key = server.runtime.secrets.active_key
        claims = jwt.decode(_session(server), options={"verify_signature": False})
        self.user_key = int(claims["uid"])
        self.user_created = int(claims["ucr"])

    def claims(self, **overrides: Any) -> dict[str, Any]:
        return claims_for(
            self.org_id, self.user_key, self.server.app_id, self.user_created, **overrides
        )

    def sign(self, claims: dict[str, Any], *, secret: bytes | None = None, **header: Any) -> str:
        headers = {"kid": self.key.kid, **header}
        alg = headers.pop("alg", "HS256")
        return jwt.encode(claims, secret or self.key.secret, algorithm=alg, headers=headers)


def test_http_forged_control_token_is_accepted(server: LiveServer) -> None:
    f = Forger(server)
    r = _info(server, f.sign(f.claims()))
    assert r.status_code == 200, r.text
    assert r.json()["user"]["type"] == "rev_user"
    assert r.json()["user"]["id"].endswith(f":revu/{f.user_key}")


def test_http_expired_session_token_is_refused(server: LiveServer) -> None:
    f = Forger(server)
    past = int(time.time()) - 7200
    token = f.sign(f.claims(iat=past, exp=past + 3600))
    _assert_401(_info(server, token), "expired", token)


def test_http_unknown_kid_is_refused(server: LiveServer) -> None:
    f = Forger(server)
    token = f.sign(f.claims(), secret=secrets.token_bytes(32), kid="0123456789abcdef")
    _assert_401(_info(server, token), "unknown key", token)


def test_http_known_kid_with_another_secret_is_refused(server: LiveServer) -> None:
    f = Forger(server)
    token = f.sign(f.claims(), secret=secrets.token_bytes(32))
    _assert_401(_info(server, token), "invalid", token)


def test_http_alg_none_is_refused(server: LiveServer) -> None:
    f = Forger(server)
    token = unsigned({"alg": "none", "kid": f.key.kid, "typ": "JWT"}, f.claims())
    _assert_401(_info(server, token), "algorithm", token)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_http_hs512_is_refused(server: LiveServer) -> None:
    f = Forger(server)
    token = f.sign(f.claims(), alg="HS512")
    _assert_401(_info(server, token), "algorithm", token)


def test_http_rs256_is_refused(server: LiveServer) -> None:
    f = Forger(server)
    token = rs256(f.claims(), f.key.kid)
    _assert_401(_info(server, token), "algorithm", token)


@pytest.mark.parametrize("garbage", ["a.b.c", "not-a-token", "eyJ.eyJ.sig"])
def test_http_garbage_is_refused(server: LiveServer, garbage: str) -> None:
    r = _info(server, garbage)
    assert r.status_code == 401, r.text
    assert r.json()["type"] == "unauthenticated"
    message = r.json()["message"].lower()
    assert "malformed" in message or "unrecognised" in message


def test_http_session_token_of_a_deleted_user_is_refused(server: LiveServer) -> None:
    token = _session(server, "soon-gone")
    with server.client(server.pat) as c:
        users = c.get("/rev-users.list", params={"external_ref": "soon-gone"}).json()["rev_users"]
        assert len(users) == 1
        assert c.post("/rev-users.delete", json={"id": users[0]["id"]}).status_code == 200
    _assert_401(_info(server, token), "no longer exists", token)


def test_http_key_rotated_on_disk_is_picked_up_and_old_tokens_keep_working(
    server: LiveServer,
) -> None:
    f = Forger(server)
    old_token = _session(server, "rotating-user")
    path = server.settings.resolved_secrets_file()
    new_key = rotate_signing_key(path)
    assert new_key.kid != f.key.kid

    # A token signed with the new key (say by another process that already
    # restarted) is accepted by this running server.
    token = f.sign(f.claims(), secret=new_key.secret, kid=new_key.kid)
    r = _info(server, token)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["id"].endswith(f":revu/{f.user_key}")
    # Tokens signed with the old key still verify.
    assert _info(server, old_token).status_code == 200
    assert _info(server, f.sign(f.claims())).status_code == 200
    # A key that is on no ring at all is still refused after the reload.
    stranger = f.sign(f.claims(), secret=secrets.token_bytes(32), kid="fedcba9876543210")
    _assert_401(_info(server, stranger), "unknown key", stranger)


@pytest.mark.parametrize("kid", [1, True, ["k"], {"k": 1}, 1.5], ids=repr)
def test_http_non_string_kid_is_a_401_not_a_500(server: LiveServer, kid: Any) -> None:
    f = Forger(server)
    # Built by hand: PyJWT refuses to write a non-string kid.
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = b64url(json.dumps(f.claims()).encode())
    mac = hmac.new(f.key.secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    token = f"{head}.{body}.{b64url(mac)}"
    _assert_401(_info(server, token), "malformed", token)
    # The widget's calls go through the same check.
    with server.client(token) as c:
        r = c.post("/widget/conversations.list", json={"app_id": server.app_id})
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_http_a_deleted_users_token_never_becomes_the_next_users(
    make_server: Any, backend: str
) -> None:
    """Finding: SQLite reused the newest user's key after it was deleted, and
    the old token then read the newcomer's conversations."""
    server = make_server(backend=backend)
    token = _session(server, "newest-user")
    old_key = jwt.decode(token, options={"verify_signature": False})["uid"]
    with server.client(server.pat) as c:
        assert c.post("/rev-users.delete", json={"id": f"REVU-{old_key}"}).status_code == 200
    # A new visitor arrives and starts a conversation.
    newcomer_token = anonymous_session(server)["session_token"]
    assert jwt.decode(newcomer_token, options={"verify_signature": False})["uid"] != old_key
    with server.client(newcomer_token) as c:
        r = c.post(
            "/widget/conversations.create", json={"app_id": server.app_id, "body": "private"}
        )
        assert r.status_code == 201, r.text
    with server.client(token) as c:
        r = c.post("/widget/conversations.list", json={"app_id": server.app_id})
    _assert_401(r, "no longer exists", token)


async def test_http_a_token_is_bound_to_its_users_row_not_only_its_key(
    server: LiveServer,
) -> None:
    """Even if a row with the same key came back (a restored backup, a reset
    sequence), the token's creation stamp does not match it."""
    token = _session(server, "restored-user")
    key = jwt.decode(token, options={"verify_signature": False})["uid"]
    assert _info(server, token).status_code == 200
    await server.sql("DELETE FROM rev_users WHERE id = :id", id=key)
    await server.sql(
        "INSERT INTO rev_users (id, external_ref, display_name, phone_numbers, custom_fields,"
        " is_verified, state, created_at, modified_at) VALUES (:id, 'someone-else', 'Else',"
        " '[]', '{}', true, 'active', :now, :now)",
        id=key,
        now=datetime.now(UTC).replace(tzinfo=None),
    )
    _assert_401(_info(server, token), "no longer exists", token)
