"""Origins in Content-Security-Policy headers.

Only what ``identity.apps.normalise_origin`` stores (``scheme://host[:port]``)
may stand in a source list: anything else (a stray ``;`` or space in an
admin's origin or in ``OPENPLUG_PUBLIC_URL``) would add directives, so it
is left out instead. ASCII digits only (``\\d`` would match any script's),
the whole value matched (``$`` would let a trailing newline through).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SAFE_ORIGIN = re.compile(
    r"https?://[a-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-f:.]+\](:[0-9]{1,5})?"
)


def source_list(origins: Iterable[str]) -> str:
    """The safe ones of ``origins``, space-separated ("" for none)."""
    return " ".join(o for o in origins if _SAFE_ORIGIN.fullmatch(o))
