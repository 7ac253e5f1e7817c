"""The trait merge rules (``openplug.crm.merge``), shared by identify and the
agents' update calls: traits left out are kept, traits sent replace,
``custom_fields`` merge key by key and ``None`` clears one; no change means
no write."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openplug.crm.merge import changed_columns, merge_custom_fields

PROPERTY = settings(max_examples=300, deadline=None)

COLUMNS = ("display_name", "email", "description", "tier", "phone_numbers")
keys = st.sampled_from([f"tnt__{n}" for n in ("a", "b", "c", "d", "e")])
json_values = st.recursive(
    st.one_of(st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=5,
)
stored_custom = st.dictionaries(keys, json_values, max_size=5)
sent_custom = st.dictionaries(keys, st.one_of(st.none(), json_values), max_size=5)
column_values = {
    "display_name": st.text(max_size=5),
    "email": st.one_of(st.none(), st.text(max_size=5)),
    "description": st.one_of(st.none(), st.text(max_size=5)),
    "tier": st.one_of(st.none(), st.sampled_from(["gold", "free"])),
    "phone_numbers": st.lists(st.sampled_from(["+911122334455", "+14155550100"]), max_size=2),
}
rows = st.fixed_dictionaries({**column_values, "custom_fields": stored_custom})
sents = st.fixed_dictionaries({}, optional={**column_values, "custom_fields": sent_custom})


def apply(row: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {**row, **changes}


@PROPERTY
@given(stored=stored_custom, sent=sent_custom)
def test_custom_fields_merge_key_by_key_and_none_clears(
    stored: dict[str, Any], sent: dict[str, Any]
) -> None:
    merged = merge_custom_fields(stored, sent)
    for key in stored.keys() | sent.keys():
        if key not in sent:
            assert merged[key] == stored[key]  # left out: kept
        elif sent[key] is None:
            assert key not in merged  # null: cleared
        else:
            assert merged[key] == sent[key]  # sent: replaces
    assert set(merged) <= stored.keys() | sent.keys()
    assert None not in merged.values()
    # Sending the same again changes nothing; the stored dict is not touched.
    assert merge_custom_fields(merged, sent) == merged
    assert merge_custom_fields(stored, {}) == stored


@PROPERTY
@given(row=rows, sent=sents)
def test_changed_columns_are_what_a_write_would_change(
    row: dict[str, Any], sent: dict[str, Any]
) -> None:
    before = {k: (dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
    changes = changed_columns(row, sent)
    assert row == before  # reading it never edits the row
    after = apply(row, changes)
    for column in COLUMNS:
        assert after[column] == sent.get(column, row[column])  # sent replaces, else kept
    expected_custom = merge_custom_fields(row["custom_fields"], sent.get("custom_fields", {}))
    assert after["custom_fields"] == expected_custom
    # Only what differs is written, and nothing when nothing differs.
    assert all(row[column] != value for column, value in changes.items())
    assert (changes == {}) == (after == row)
    # A returning visitor sending the same traits again costs no write.
    assert changed_columns(after, sent) == {}
