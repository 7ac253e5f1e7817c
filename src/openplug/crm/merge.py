"""Trait merge rules, shared by identify and the agents' update calls: a
value sent replaces the stored one, a value left out is kept, custom fields
merge key by key (``None`` clears a key)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def merge_custom_fields(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(stored)
    for key, value in sent.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def changed_columns(row: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    """The columns whose value would change; empty means no write is needed."""
    out: dict[str, Any] = {}
    for column, value in sent.items():
        if column == "custom_fields":
            merged = merge_custom_fields(row["custom_fields"], value)
            if merged != row["custom_fields"]:
                out[column] = merged
        elif row[column] != value:
            out[column] = value
    return out
