"""DevRev-shaped object ids (DON) and display ids, and parsing them back.

Ids are opaque to clients; inside, each is the row's integer key. Clients
may pass either the DON (``don:identity:openplug:devo/<org>:revu/12``) or
the display id (``REVU-12``) wherever an id is expected.

Every integer the server reads out of client text (ids, cursors, socket
topics, ``Content-Length``) goes through ``ascii_int``: ``str.isdigit``
and ``int`` also accept other scripts' digits (``int("٣") == 3``) and
characters ``int`` then refuses (``"²".isdigit()`` but ``int("²")``
raises), which made ``REVU-²`` a 500 and ``REVU-٣`` an alias of ``REVU-3``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openplug.errors import InvalidId


@dataclass(frozen=True)
class ObjectKind:
    don_service: str
    don_type: str
    display_prefix: str


REV_USER = ObjectKind("identity", "revu", "REVU")
ACCOUNT = ObjectKind("core", "account", "ACC")
REV_ORG = ObjectKind("identity", "revo", "REV")
DEV_USER = ObjectKind("identity", "devu", "DEVU")
TOKEN = ObjectKind("identity", "token", "TOKEN")
FRAGMENT = ObjectKind("core", "tenant_fragment", "FRAG")
CONVERSATION = ObjectKind("core", "conversation", "CONV")
COMMENT = ObjectKind("core", "comment", "COMMENT")
ARTIFACT = ObjectKind("core", "artifact", "ARTIFACT")
WEBHOOK = ObjectKind("integration", "webhook", "WEBHOOK")
TAG = ObjectKind("core", "tag", "TAG")
# An app's team, the author of automated messages; keyed by the app.
SYS_USER = ObjectKind("identity", "sysu", "SYSU")

# Keys are 32-bit integer columns on every backend.
MAX_KEY = 2**31 - 1

# ASCII only, spelled out: ``\d`` would match every script's digits.
_ASCII_DIGITS = re.compile(r"[0-9]+")
_DON = re.compile(
    r"don:(?P<svc>[a-z]+):openplug:devo/(?P<org>[A-Za-z0-9]+):(?P<type>[a-z_]+)/(?P<id>[A-Za-z0-9_]+)"
)


def ascii_int(text: str, max_value: int = MAX_KEY) -> int | None:
    """``text`` as a non-negative integer when it is ASCII digits only and
    at most ``max_value``; otherwise None (never an exception).

    The length is checked before ``int`` runs: a value of ``max_value``
    has that many digits at most, which also keeps a long run of digits
    away from ``int``'s 4,300-digit limit.
    """
    if len(text) > len(str(max_value)) or not _ASCII_DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= max_value else None


def don(org_id: str, kind: ObjectKind, key: int | str) -> str:
    return f"don:{kind.don_service}:openplug:devo/{org_id}:{kind.don_type}/{key}"


def display_id(kind: ObjectKind, key: int) -> str:
    return f"{kind.display_prefix}-{key}"


def parse_key(value: str, kind: ObjectKind, field_name: str) -> str:
    """The row key inside a DON or display id of ``kind``; 400 otherwise."""
    m = _DON.fullmatch(value)
    if m and m["type"] == kind.don_type:
        return m["id"]
    prefix = f"{kind.display_prefix}-"
    # The prefix compared as itself, not through ``value.upper()``: upper
    # casing can change a string's length ("ß" -> "SS"), and then the
    # slice after the prefix would not start where the prefix ends.
    head = value[: len(prefix)]
    if head.isascii() and head.upper() == prefix and value[len(prefix) :]:
        return value[len(prefix) :]
    raise InvalidId(field_name, f"not a {kind.don_type} id")


def parse_int_key(value: str, kind: ObjectKind, field_name: str) -> int:
    key = ascii_int(parse_key(value, kind, field_name))
    if key is None:
        raise InvalidId(field_name, f"not a {kind.don_type} id")
    return key
