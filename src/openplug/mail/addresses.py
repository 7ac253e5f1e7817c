"""Reply addresses and unsubscribe links: capabilities carried in a mail.

``reply+<token>@<inbound domain>`` names one conversation and one recipient.
The token is the conversation and rev user keys plus an HMAC over them and
the address the mail went to, so it needs no table, works on every
process, and cannot be guessed, altered or moved: a token is only valid
for mail from the address it was issued to (an attacker who learns a
reply address still cannot post as the visitor from their own mailbox).
The HMAC key is derived from the server's token pepper, so rotating that
pepper retires every address, and erasing the rev user retires theirs.

Unsubscribe links carry the same kind of token over the rev user alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from openplug.ids import ascii_int

REPLY_PREFIX = "reply+"
_MAC_BYTES = 16  # 128 bits
_REPLY = re.compile(r"c([0-9]{1,18})u([0-9]{1,18})-([a-z2-7]{26})")
_UNSUBSCRIBE = re.compile(r"u([0-9]{1,18})-([a-z2-7]{26})")


@dataclass(frozen=True)
class ReplyToken:
    """A token as read from an address; not yet checked against anyone."""

    conversation_key: int
    rev_user_key: int
    mac: str


def _key(pepper: bytes, purpose: bytes) -> bytes:
    return hmac.new(pepper, b"openplug mail v1: " + purpose, hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()[:_MAC_BYTES]
    return base64.b32encode(digest).decode().rstrip("=").lower()


def _reply_mac(pepper: bytes, conversation_key: int, rev_user_key: int, email: str) -> str:
    return _mac(_key(pepper, b"reply"), f"{conversation_key}:{rev_user_key}:{email.lower()}")


def reply_token(pepper: bytes, conversation_key: int, rev_user_key: int, email: str) -> str:
    mac = _reply_mac(pepper, conversation_key, rev_user_key, email)
    return f"c{conversation_key}u{rev_user_key}-{mac}"


def reply_address(
    pepper: bytes, domain: str, conversation_key: int, rev_user_key: int, email: str
) -> str:
    return f"{REPLY_PREFIX}{reply_token(pepper, conversation_key, rev_user_key, email)}@{domain}"


def parse_reply_address(address: str, domain: str) -> ReplyToken | None:
    """The token in ``address`` if it is one of our reply addresses (any
    case: some relays fold local parts), else None."""
    local, at, host = address.strip().strip("<>").rpartition("@")
    if not at or host.lower() != domain.lower() or not local.lower().startswith(REPLY_PREFIX):
        return None
    match = _REPLY.fullmatch(local[len(REPLY_PREFIX) :].lower())
    if match is None:
        return None
    conversation_key, rev_user_key = ascii_int(match[1]), ascii_int(match[2])
    if conversation_key is None or rev_user_key is None:
        return None
    return ReplyToken(conversation_key, rev_user_key, match[3])


def reply_token_matches(pepper: bytes, token: ReplyToken, email: str) -> bool:
    """Whether ``token`` was issued for mail to ``email``."""
    expected = _reply_mac(pepper, token.conversation_key, token.rev_user_key, email)
    return hmac.compare_digest(expected, token.mac)


def unsubscribe_token(pepper: bytes, rev_user_key: int) -> str:
    return f"u{rev_user_key}-{_mac(_key(pepper, b'unsubscribe'), str(rev_user_key))}"


def unsubscribe_target(pepper: bytes, token: str) -> int | None:
    """The rev user an unsubscribe token stands for, or None if it is not
    one we made."""
    match = _UNSUBSCRIBE.fullmatch(token)
    if match is None:
        return None
    key = ascii_int(match[1])
    if key is None or not hmac.compare_digest(unsubscribe_token(pepper, key), token):
        return None
    return key
