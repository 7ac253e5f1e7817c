"""The rule a conversation's tag value follows, without HTTP."""

from __future__ import annotations

from openplug.tags.service import value_problem


def test_a_value_is_one_of_the_allowed_values() -> None:
    assert value_problem(["gold", "silver"], "gold") is None
    assert value_problem(["gold", "silver"], "Gold") == "not one of the tag's allowed_values"


def test_a_tag_without_allowed_values_takes_no_value() -> None:
    assert value_problem([], "gold") == "this tag has no allowed_values, so it takes no value"
