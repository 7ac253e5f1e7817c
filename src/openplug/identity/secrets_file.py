"""The server's own secrets: the HMAC pepper for stored token digests and the
key ring that signs session tokens.

They live in one file in the data directory (mode 0600), not in the
database, so that a leaked database backup can neither forge session tokens
nor test guessed AATs offline. Several processes on one machine share the
file; several machines share it by pointing ``OPENPLUG_SECRETS_FILE`` at the
same content.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: bytes
    created_at: str


@dataclass
class ServerSecrets:
    token_pepper: bytes
    active_kid: str
    keys: dict[str, SigningKey] = field(default_factory=dict)

    @property
    def active_key(self) -> SigningKey:
        return self.keys[self.active_kid]


def _new_key() -> SigningKey:
    return SigningKey(
        kid=secrets.token_hex(8),
        secret=secrets.token_bytes(32),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def _encode(s: ServerSecrets) -> dict[str, Any]:
    return {
        "token_pepper": s.token_pepper.hex(),
        "active_kid": s.active_kid,
        "signing_keys": [
            {"kid": k.kid, "secret": k.secret.hex(), "created_at": k.created_at}
            for k in s.keys.values()
        ],
    }


def _decode(raw: dict[str, Any]) -> ServerSecrets:
    keys = {
        k["kid"]: SigningKey(k["kid"], bytes.fromhex(k["secret"]), k["created_at"])
        for k in raw["signing_keys"]
    }
    return ServerSecrets(bytes.fromhex(raw["token_pepper"]), raw["active_kid"], keys)


def _write(path: Path, s: ServerSecrets) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(_encode(s), f, indent=2)
        # On disk before it takes the old file's place: after a power cut
        # the database may hold digests made with this pepper, so an empty
        # secrets file would lock every token out for good.
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    """Make a rename or link in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_secrets(path: Path) -> ServerSecrets:
    return _decode(json.loads(path.read_text()))


def ensure_secrets(path: Path) -> tuple[ServerSecrets, bool]:
    """Load the secrets, creating them on first use. Returns (secrets, created)."""
    if path.exists():
        return load_secrets(path), False
    key = _new_key()
    fresh = ServerSecrets(secrets.token_bytes(32), key.kid, {key.kid: key})
    # Written aside, then hard-linked into place: link() fails if the file
    # exists, so when two processes initialise at once exactly one wins and
    # nobody ever reads a half-written file.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    _write(tmp, fresh)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_secrets(path), False
    finally:
        tmp.unlink()
    _fsync_directory(path.parent)
    return fresh, True


def rotate_signing_key(path: Path) -> SigningKey:
    """Add a new active key; old keys stay so tokens they signed still verify."""
    current = load_secrets(path)
    key = _new_key()
    current.keys[key.kid] = key
    current.active_kid = key.kid
    _write(path, current)
    return key


def retire_signing_key(path: Path, kid: str) -> None:
    """Forget a key: every session token it signed stops verifying."""
    current = load_secrets(path)
    if kid == current.active_kid:
        raise ValueError("cannot retire the active key; rotate first")
    if kid not in current.keys:
        raise KeyError(kid)
    del current.keys[kid]
    _write(path, current)
