"""Id parsing (``openplug.ids``), called directly: any text either parses to
a key within ``MAX_KEY`` or is an ``InvalidId`` naming the field, never
another exception; DONs and display ids of one key agree."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from openplug.errors import InvalidId
from openplug.ids import (
    ACCOUNT,
    COMMENT,
    CONVERSATION,
    DEV_USER,
    FRAGMENT,
    MAX_KEY,
    REV_ORG,
    REV_USER,
    TOKEN,
    ObjectKind,
    ascii_int,
    display_id,
    don,
    parse_int_key,
)

KINDS = [REV_USER, ACCOUNT, REV_ORG, DEV_USER, TOKEN, FRAGMENT, CONVERSATION, COMMENT]
PROPERTY = settings(max_examples=300, deadline=None)

kinds = st.sampled_from(KINDS)
keys = st.integers(min_value=0, max_value=MAX_KEY)
org_ids = st.text("abcdef0123456789", min_size=1, max_size=12)
# Every code point, lone surrogates included: a Python str can hold them.
any_text = st.text(st.characters(exclude_categories=()), max_size=40)
# What looks most like a number to ``str.isdigit``: every script's digits,
# superscripts and other numerals, next to ASCII digits.
digitish = st.text(
    st.one_of(st.characters(categories=["Nd", "No", "Nl"]), st.sampled_from("0123456789")),
    min_size=1,
    max_size=12,
)


def _id_like(kind: ObjectKind, org: str, tail: str, form: int) -> str:
    if form == 0:
        return f"{kind.display_prefix}-{tail}"
    if form == 1:
        return f"{kind.display_prefix.lower()}-{tail}"
    return f"don:{kind.don_service}:openplug:devo/{org}:{kind.don_type}/{tail}"


def _parses_or_invalid_id(value: str, kind: ObjectKind) -> int | None:
    try:
        key = parse_int_key(value, kind, "the_field")
    except InvalidId as e:
        assert e.extra["field_name"] == "the_field"
        return None
    assert isinstance(key, int) and 0 <= key <= MAX_KEY
    return key


@PROPERTY
@given(kind=kinds, value=any_text)
@example(kind=REV_USER, value="REVU-\u00b2")
@example(kind=REV_USER, value="REVU-\u0661")
@example(kind=REV_USER, value="REVU-" + "9" * 5000)
@example(kind=REV_USER, value="don:identity:openplug:devo/x:revu/12\n")
@example(kind=REV_USER, value="\u00dfREVU-1")
def test_any_text_parses_within_max_key_or_is_invalid_id(kind: ObjectKind, value: str) -> None:
    key = _parses_or_invalid_id(value, kind)
    if key is not None:
        # Only a DON or display id of this kind, its key in ASCII digits.
        if value.startswith("don:"):
            assert f":{kind.don_type}/" in value
            tail = value.rsplit("/", 1)[-1]
        else:
            assert value[: len(kind.display_prefix) + 1].upper() == f"{kind.display_prefix}-"
            tail = value[len(kind.display_prefix) + 1 :]
        assert tail.isascii() and tail.isdigit() and int(tail) == key


@PROPERTY
@given(kind=kinds, org=org_ids, tail=digitish, form=st.integers(0, 2))
def test_only_ascii_digits_are_keys(kind: ObjectKind, org: str, tail: str, form: int) -> None:
    key = _parses_or_invalid_id(_id_like(kind, org, tail, form), kind)
    if tail.isascii() and len(tail) <= 10 and int(tail) <= MAX_KEY:
        assert key == int(tail)
    else:
        assert key is None


@PROPERTY
@given(kind=kinds, org=org_ids, key=keys)
def test_don_and_display_id_of_a_key_agree(kind: ObjectKind, org: str, key: int) -> None:
    forms = [don(org, kind, key), display_id(kind, key), display_id(kind, key).lower()]
    assert [parse_int_key(v, kind, "id") for v in forms] == [key, key, key]
    # And they are ids of that kind only.
    for other in KINDS:
        if other != kind:
            for value in forms:
                with pytest.raises(InvalidId):
                    parse_int_key(value, other, "id")


@PROPERTY
@given(
    text=st.one_of(any_text, digitish, keys.map(str)),
    max_value=st.sampled_from([MAX_KEY, 2**63 - 1, 9]),
)
def test_ascii_int_is_int_of_ascii_digits_or_none(text: str, max_value: int) -> None:
    value = ascii_int(text, max_value)
    if text.isascii() and text.isdigit() and int(text) <= max_value:
        assert value == int(text)
    else:
        assert value is None


@pytest.mark.parametrize(
    "value",
    [
        "REVU-\u00b2",
        "REVU-\u0661",
        "REVU-\uff11",
        "REVU-1\n",
        "REVU- 1",
        "REVU-+1",
        "REVU-1_0",
        "REVU-",
        "REVU-2147483648",
        "don:identity:openplug:devo/x:revu/1\n",
        "\u00dfREVU-1",
    ],
)
def test_refused_forms(value: str) -> None:
    with pytest.raises(InvalidId):
        parse_int_key(value, REV_USER, "id")
