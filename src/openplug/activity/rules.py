"""What a site may send about its visitor's visit, and how much of it is
kept: small flat maps and short names, so that a chatty page (or a script
posting as a visitor) cannot grow a visitor's record without bound.

DevRev's ``trackEvent(event_name, properties)`` takes a name of letters,
digits, ``_`` and ``-`` and an object of metadata; ``addSessionProperties``
a key-value map. Values here are JSON scalars (a nested object shows to an
agent as nothing useful and is where unbounded size hides).
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from openplug.crm.merge import merge_custom_fields

MAX_EVENTS = 100  # kept per visitor, newest first
MAX_PROPERTIES = 50  # keys in one event's properties, and in a visitor's session
MAX_KEY_CHARS = 64
MAX_VALUE_CHARS = 1000
MAX_URL_CHARS = 2048
SHOWN_EVENTS = 20  # what the agents' call returns by default

EventName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
]


def _properties(value: dict[str, Any]) -> dict[str, Any]:
    for key, item in value.items():
        if not key or len(key) > MAX_KEY_CHARS:
            raise ValueError(f"each key must be 1 to {MAX_KEY_CHARS} characters")
        if isinstance(item, str):
            if len(item) > MAX_VALUE_CHARS:
                raise ValueError(f"{key}: text values are at most {MAX_VALUE_CHARS} characters")
        elif isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):  # not JSON
                raise ValueError(f"{key}: must be a finite number")
        elif item is not None and not isinstance(item, (bool, int)):
            raise ValueError(f"{key}: values must be text, numbers, true/false or null")
    return value


Properties = Annotated[
    dict[str, Any], Field(max_length=MAX_PROPERTIES), AfterValidator(_properties)
]


def _page_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be the http(s) address of the page")
    return value


PageUrl = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_URL_CHARS), AfterValidator(_page_url)
]


def merged_session_properties(stored: dict[str, Any], sent: dict[str, Any]) -> dict[str, Any]:
    """``addSessionProperties`` adds to what was there; a key sent again
    replaces its value, ``null`` removes it: the rule of custom fields."""
    return merge_custom_fields(stored, sent)


def size_of(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))
