"""DevRev-shaped object ids (DON) and display ids, and parsing them back.

Ids are opaque to clients; inside, each is the row's integer key. Clients
may pass either the DON (``don:identity:openplug:devo/<org>:revu/12``) or
the display id (``REVU-12``) wherever an id is expected.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from openplug.errors import InvalidField


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

# Keys are 32-bit integer columns on every backend.
MAX_KEY = 2**31 - 1

_DON = re.compile(
    r"^don:(?P<svc>[a-z]+):openplug:devo/(?P<org>[A-Za-z0-9]+):(?P<type>[a-z_]+)/(?P<id>[A-Za-z0-9_]+)$"
)


def don(org_id: str, kind: ObjectKind, key: int | str) -> str:
    return f"don:{kind.don_service}:openplug:devo/{org_id}:{kind.don_type}/{key}"


def display_id(kind: ObjectKind, key: int) -> str:
    return f"{kind.display_prefix}-{key}"


def parse_key(value: str, kind: ObjectKind, field_name: str) -> str:
    """The row key inside a DON or display id of ``kind``; 400 otherwise."""
    m = _DON.match(value)
    if m and m["type"] == kind.don_type:
        return m["id"]
    prefix = f"{kind.display_prefix}-"
    if value.upper().startswith(prefix) and value[len(prefix) :]:
        return value[len(prefix) :]
    raise InvalidField(field_name, f"not a {kind.don_type} id")


def parse_int_key(value: str, kind: ObjectKind, field_name: str) -> int:
    key = parse_key(value, kind, field_name)
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not key.isascii() or not key.isdigit() or int(key) > MAX_KEY:
        raise InvalidField(field_name, f"not a {kind.don_type} id")
    return int(key)
