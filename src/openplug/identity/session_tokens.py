"""Session tokens: short-lived JWTs naming one rev user of one app.

HS256 from PyJWT: only openplug verifies these tokens, so an asymmetric
algorithm would add size and CPU for no one's benefit. The header carries
the ``kid`` of the key ring entry that signed it, so keys rotate without
logging anybody out.
"""

from __future__ import annotations

import functools
import json
import math
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from openplug.errors import Unauthenticated
from openplug.identity.secrets_file import ServerSecrets

ALGORITHM = "HS256"
SESSION_DEFAULT_MINUTES = 60
SESSION_MAX_MINUTES = 1440
# Verified tokens kept (``decode_session_token``): a busy site's open
# widgets, each entry well under a kilobyte.
_KEPT_TOKENS = 8192


class UnknownSigningKey(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("session token was signed by an unknown key")


@dataclass(frozen=True)
class SessionClaims:
    rev_user_key: int
    # The user's creation stamp (``creation_stamp``): a token names its user
    # by key *and* by when that row was made, so a row made later under the
    # same key (a restored backup, a reset sequence) is never its user.
    user_created: int
    app_id: str
    issued_at: datetime
    expires_at: datetime
    jti: str
    verified: bool


class _KeptKeyHMAC(HMACAlgorithm):
    """PyJWT's HS256, keeping each prepared key. Preparing an HMAC key checks
    that the secret is not a PEM, SSH, DER or JWK key (an algorithm-confusion
    guard): on every call that costs more than the signature itself, yet the
    server signs with the few keys of its own key ring."""

    MAX_KEPT = 64  # far more than a key ring holds; bounds it regardless

    def __init__(self) -> None:
        super().__init__(HMACAlgorithm.SHA256)
        self._kept: dict[str | bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        prepared = self._kept.get(key)
        if prepared is None:
            prepared = super().prepare_key(key)  # raises for a refused key: not kept
            if len(self._kept) >= self.MAX_KEPT:
                self._kept.clear()
            self._kept[key] = prepared
        return prepared


# Signs session tokens: PyJWT's JWS with only that algorithm registered.
_SIGNER = jwt.PyJWS(algorithms=[])
_SIGNER.register_algorithm(ALGORITHM, _KeptKeyHMAC())


def issuer(org_id: str) -> str:
    return f"openplug:devo/{org_id}"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def creation_stamp(created_at: datetime) -> int:
    """A rev user's ``created_at`` as integer microseconds: exact on both
    databases (each stores microseconds), unlike a float timestamp."""
    return (created_at - _EPOCH) // _MICROSECOND


def mint_session_token(
    server_secrets: ServerSecrets,
    *,
    org_id: str,
    rev_user_key: int,
    rev_user_created_at: datetime,
    rev_user_don: str,
    app_id: str,
    expires_in_mins: int,
    verified: bool,
) -> str:
    key = server_secrets.active_key
    now = time.time()
    claims = {
        "iss": issuer(org_id),
        "sub": rev_user_don,
        "aud": app_id,
        # The full-precision clock reading (JSON keeps a float exactly), so
        # that a token minted right after a sessions revocation is not
        # mistaken for one minted before it, nor the other way round.
        "iat": now,
        "exp": int(now) + expires_in_mins * 60,
        "jti": secrets.token_hex(12),
        "typ": "session",
        "uid": rev_user_key,
        "ucr": creation_stamp(rev_user_created_at),
        "ver": verified,
    }
    # The JWT payload exactly as ``jwt.encode`` serialises it (no datetime
    # claims to convert), signed by ``_SIGNER`` for its kept key.
    payload = json.dumps(claims, separators=(",", ":")).encode()
    return _SIGNER.encode(payload, key.secret, algorithm=ALGORITHM, headers={"kid": key.kid})


def decode_session_token(
    server_secrets: ServerSecrets, token: str, *, org_id: str, app_id: str | None
) -> SessionClaims:
    """Check signature, key, algorithm, issuer, audience and expiry.

    ``app_id=None`` accepts any app (for ``auth-tokens.info``); every widget
    request passes its app, so another app's token is refused.

    A widget sends the same token with every call until it renews it, and
    verifying it (parsing, the HMAC, PyJWT's claim checks) cost a sixth of
    a call: what depends only on the token's bytes and the key is kept per
    token (``_signed_claims``), what depends on the clock and the call
    (expiry, audience) is checked every time. Only tokens that verified are
    kept; a removed key's tokens fail before the cache (``UnknownSigningKey``).
    """
    key = server_secrets.keys.get(_kid_of(token))
    if key is None:
        raise UnknownSigningKey()
    claims, exp = _signed_claims(token, key.secret, issuer(org_id))
    if exp <= time.time():
        raise Unauthenticated("session token has expired")
    if app_id is not None and claims.app_id != app_id:
        raise Unauthenticated("session token belongs to another app")
    return claims


@functools.lru_cache(maxsize=_KEPT_TOKENS)
def _kid_of(token: str) -> str:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:  # not only DecodeError: a non-string kid is InvalidTokenError
        raise Unauthenticated("malformed session token") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("session token uses a refused algorithm")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise Unauthenticated("malformed session token") if kid is not None else UnknownSigningKey()
    return kid


@functools.lru_cache(maxsize=_KEPT_TOKENS)
def _signed_claims(token: str, secret: bytes, token_issuer: str) -> tuple[SessionClaims, int]:
    """The claims of a token signed with ``secret``, and its ``exp``; the
    expiry and the audience are the caller's to check."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=token_issuer,
            options={
                "require": ["exp", "iat", "sub", "aud", "jti", "iss"],
                "verify_aud": False,
                "verify_exp": False,
            },
        )
    except jwt.PyJWTError:
        raise Unauthenticated("invalid session token") from None
    if not _claims_well_typed(claims):
        raise Unauthenticated("invalid session token")
    return SessionClaims(
        rev_user_key=claims["uid"],
        user_created=claims["ucr"],
        app_id=str(claims["aud"]),
        issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        jti=str(claims["jti"]),
        verified=claims["ver"],
    ), claims["exp"]


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass; ``true`` is no key


def _is_finite_float(value: Any) -> bool:
    return type(value) is float and math.isfinite(value)  # json.loads reads Infinity


def _claims_well_typed(claims: dict[str, Any]) -> bool:
    """Every claim openplug relies on has the type openplug writes. PyJWT
    checks values, not types: it reads ``"exp": "9999999999"`` as a number
    and Python reads ``"uid": true`` as the key 1. Only our own key signs
    these tokens, so this guards against our own mistakes and a leaked key
    alike, at the cost of a few ``type`` calls."""
    return (
        claims.get("typ") == "session"
        and _is_int(claims.get("uid"))
        and _is_int(claims.get("ucr"))
        and _is_int(claims.get("exp"))
        and (_is_int(claims.get("iat")) or _is_finite_float(claims.get("iat")))
        and type(claims.get("ver")) is bool
        and isinstance(claims.get("jti"), str)
        and isinstance(claims.get("aud"), str)
        and isinstance(claims.get("sub"), str)
    )
