"""Agents' sign-in passwords: argon2id through ``argon2-cffi``.

Unlike AATs and PATs (256 random bits, a keyed digest is enough), a
password is chosen by a person and may be weak, so it gets a slow,
memory-hard hash. The sign-in endpoint is the only caller, and it is
throttled (see ``agent_sessions``), so the cost cannot be turned against
the server at will.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from openplug.errors import InvalidField

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()
# Verified against when the email is unknown, so that a wrong email costs
# as long as a wrong password and sign-in does not reveal who has an account.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str, field_name: str = "password") -> str:
    if len(password) < MIN_LENGTH:
        raise InvalidField(field_name, f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise InvalidField(field_name, f"a password has at most {MAX_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """Printed once to the operator (bootstrap, ``agents set-password``)."""
    return secrets.token_urlsafe(15)
