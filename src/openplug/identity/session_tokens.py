"""Session tokens: short-lived JWTs naming one rev user of one app.

HS256 from PyJWT: only openplug verifies these tokens, so an asymmetric
algorithm would add size and CPU for no one's benefit. The header carries
the ``kid`` of the key ring entry that signed it, so keys rotate without
logging anybody out.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from jwt.algorithms import HMACAlgorithm

from openplug.errors import Unauthenticated
from openplug.identity.secrets_file import ServerSecrets

ALGORITHM = "HS256"
SESSION_DEFAULT_MINUTES = 60
SESSION_MAX_MINUTES = 1440


class UnknownSigningKey(Unauthenticated):
    def __init__(self) -> None:
        super().__init__("session token was signed by an unknown key")


@dataclass(frozen=True)
class SessionClaims:
    rev_user_key: int
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


def mint_session_token(
    server_secrets: ServerSecrets,
    *,
    org_id: str,
    rev_user_key: int,
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
    """
    try:
        header = jwt.get_unverified_header(token)
    except jwt.DecodeError:
        raise Unauthenticated("malformed session token") from None
    if header.get("alg") != ALGORITHM:
        raise Unauthenticated("session token uses a refused algorithm")
    key = server_secrets.keys.get(str(header.get("kid")))
    if key is None:
        raise UnknownSigningKey()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.secret,
            algorithms=[ALGORITHM],
            audience=app_id,
            issuer=issuer(org_id),
            options={
                "require": ["exp", "iat", "sub", "aud", "jti", "iss"],
                "verify_aud": app_id is not None,
            },
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("session token has expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthenticated("session token belongs to another app") from None
    except jwt.PyJWTError:
        raise Unauthenticated("invalid session token") from None
    if claims.get("typ") != "session" or not isinstance(claims.get("uid"), int):
        raise Unauthenticated("invalid session token")
    return SessionClaims(
        rev_user_key=claims["uid"],
        app_id=str(claims["aud"]),
        issued_at=datetime.fromtimestamp(float(claims["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        jti=str(claims["jti"]),
        verified=bool(claims.get("ver")),
    )
