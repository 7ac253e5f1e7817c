"""The activity rules as plain functions: what a site may send, and how
session properties add up."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from openplug.activity.rules import (
    MAX_PROPERTIES,
    EventName,
    PageUrl,
    Properties,
    merged_session_properties,
)


def test_session_properties_add_replace_and_remove() -> None:
    stored = {"city": "Bengaluru", "region": "us-east"}
    assert merged_session_properties(stored, {"region": None, "tier": "gold"}) == {
        "city": "Bengaluru", "tier": "gold"
    }  # fmt: skip
    assert stored == {"city": "Bengaluru", "region": "us-east"}  # not changed in place
    assert merged_session_properties({}, {"gone": None}) == {}


@pytest.mark.parametrize(
    "value",
    [
        {"a": "x"},
        {"n": 1, "f": 1.5, "b": True, "z": None},
        {f"k{i}": i for i in range(MAX_PROPERTIES)},
    ],
)
def test_properties_accepted(value: dict[str, Any]) -> None:
    assert TypeAdapter(Properties).validate_python(value) == value


@pytest.mark.parametrize(
    "value",
    [
        {"nested": {"a": 1}},
        {"list": [1]},
        {"long": "x" * 1001},
        {"": 1},
        {"k" * 65: 1},
        {"inf": float("inf")},
        {f"k{i}": i for i in range(MAX_PROPERTIES + 1)},
    ],
)
def test_properties_refused(value: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Properties).validate_python(value)


@pytest.mark.parametrize("name", ["signed_up", "added-to-cart", "A1"])
def test_event_names_accepted(name: str) -> None:
    assert TypeAdapter(EventName).validate_python(name) == name


@pytest.mark.parametrize("name", ["", "signed up", "x" * 65, "caf\u00e9", "a.b"])
def test_event_names_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(EventName).validate_python(name)


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x/", "/relative", "https://"])
def test_page_urls_refused(url: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(PageUrl).validate_python(url)
