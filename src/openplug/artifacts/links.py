"""Signed links to artifacts: where to upload one, where to download one.

A link is its own authority, like an S3 presigned URL (what DevRev's
``artifacts.locate`` hands out): it names one artifact (and one variant
of it), one purpose and an expiry, under an HMAC keyed from the server's
pepper for this purpose alone. It never carries a PAT, AAT or session
token, so a link that leaks (a proxy's log, a shared screenshot) opens
one file for minutes, never an account.

- ``upload``: ``artifacts.prepare``'s URL, for the uploader, minutes long.
- ``download``: ``artifacts.locate``'s URL (and those in messages),
  ``OPENPLUG_ARTIFACT_URL_SECONDS`` long.
- ``mail``: in a visitor's notification mail, days long, bound to the
  recipient too: it works only while that person may still read the
  conversation (checked on each use, so erasure ends it).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from openplug.ids import ascii_int

Purpose = Literal["upload", "download", "mail"]
Variant = Literal["original", "inline", "thumb"]
VARIANTS: tuple[Variant, ...] = ("original", "inline", "thumb")
_PURPOSES: tuple[Purpose, ...] = ("upload", "download", "mail")
PREFIX = "opl_file_"
_MAC_BYTES = 20
_MAX_EXPIRY = 2**40


@dataclass(frozen=True)
class ArtifactLink:
    purpose: Purpose
    artifact_key: int
    variant: Variant
    expires_at: int  # Unix seconds
    # ``mail`` links: the rev user the mail went to; 0 otherwise.
    recipient_key: int = 0

    @property
    def expiry(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


def _key(pepper: bytes) -> bytes:
    return hmac.new(pepper, b"openplug artifact links v1", hashlib.sha256).digest()


def _message(link: ArtifactLink) -> str:
    return (
        f"{link.purpose}.{link.artifact_key}.{link.variant}.{link.expires_at}.{link.recipient_key}"
    )


def sign_link(pepper: bytes, link: ArtifactLink) -> str:
    message = _message(link)
    mac = hmac.new(_key(pepper), message.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    payload = base64.urlsafe_b64encode(message.encode() + b"." + mac).decode().rstrip("=")
    return PREFIX + payload


def verify_link(pepper: bytes, token: str, now: datetime) -> ArtifactLink | None:
    """The link ``token`` stands for, if it is ours, intact and unexpired;
    otherwise None (never an exception: the caller answers 404)."""
    if not token.startswith(PREFIX) or len(token) > 300:
        return None
    payload = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    except (binascii.Error, ValueError):
        return None
    message, mac = raw[: -_MAC_BYTES - 1], raw[-_MAC_BYTES:]
    if raw[-_MAC_BYTES - 1 : -_MAC_BYTES] != b".":
        return None
    expected = hmac.new(_key(pepper), message, hashlib.sha256).digest()[:_MAC_BYTES]
    if not hmac.compare_digest(expected, mac):
        return None
    try:
        purpose, artifact, variant, expires, recipient = message.decode("ascii").split(".")
    except (UnicodeDecodeError, ValueError):
        return None
    artifact_key, expires_at = ascii_int(artifact), ascii_int(expires, _MAX_EXPIRY)
    recipient_key = ascii_int(recipient)
    if (
        purpose not in _PURPOSES
        or variant not in VARIANTS
        or artifact_key is None
        or expires_at is None
        or recipient_key is None
    ):
        return None
    if expires_at <= now.timestamp():
        return None
    return ArtifactLink(purpose, artifact_key, variant, expires_at, recipient_key)
