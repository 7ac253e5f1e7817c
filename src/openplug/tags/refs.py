"""How a conversation's ``tags[].id`` is read: a tag's DON or display id
names that tag; any other text is a free-form tag, kept as given (what
every id was before ``tags.*``, so nothing that worked then breaks).

A tag id is stored in one spelling, its display id (``TAG-12``), so that
``add`` / ``remove`` and the ``tags`` filter match whichever spelling the
client sends, and a free-form ``TAG-12345`` reads back exactly as before.
"""

from __future__ import annotations

from openplug.errors import ApiError
from openplug.ids import TAG, ascii_int, display_id, parse_key


def key_named_by(value: str) -> int | None:
    """The tag key ``value`` names, or None for free-form text."""
    try:
        return ascii_int(parse_key(value, TAG, "id"))
    except ApiError:
        return None


def canonical(value: str) -> str:
    key = key_named_by(value)
    return value if key is None else display_id(TAG, key)
