"""The visibility rules without HTTP: who may read an entry, what a visitor
may post, and that the SQL clause agrees with the rule on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, insert, select

from openplug.conversations import visibility as seen
from openplug.conversations.tables import messages
from openplug.db.base import utcnow
from openplug.errors import ValueNotPermitted

ME, COLLEAGUE = 1, 2


@pytest.mark.parametrize(
    ("visibility", "visitor", "me", "colleague", "team"),
    [
        ("external", True, True, True, True),
        ("public", True, True, True, True),
        ("internal", False, True, True, True),
        ("private", False, True, False, False),
    ],
)
def test_who_reads_what(
    visibility: str, visitor: bool, me: bool, colleague: bool, team: bool
) -> None:
    """An entry written by agent ``ME``."""
    assert seen.may_read(seen.VISITOR, visibility, ME) is visitor
    assert seen.may_read(seen.agent(ME), visibility, ME) is me
    assert seen.may_read(seen.agent(COLLEAGUE), visibility, ME) is colleague
    assert seen.may_read(seen.TEAM, visibility, ME) is team


def test_a_visitor_posts_external_only() -> None:
    assert seen.check_visitor_post(None) == "external"
    assert seen.check_visitor_post("external") == "external"
    for value in ("internal", "private", "public", "secret", 3):
        with pytest.raises(ValueNotPermitted) as refused:
            seen.check_visitor_post(value)
        assert refused.value.extra["field_name"] == "visibility"


def test_the_list_filter_names_the_bad_value() -> None:
    assert seen.check_filter(None) is None
    assert seen.check_filter(["internal", "external"]) == ["internal", "external"]
    with pytest.raises(ValueNotPermitted) as refused:
        seen.check_filter(["internal", "hidden"])
    assert refused.value.extra["field_name"] == "visibility[1]"


def test_the_sql_clause_keeps_exactly_what_the_rule_allows(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'rules.db'}")
    messages.create(engine)  # its foreign keys are not enforced by SQLite by default
    rows = [
        {"conversation_id": 1, "seq": i + 1, "author_dev_user_id": author, "body": v,
         "visibility": v, "created_at": utcnow()}
        for i, (v, author) in enumerate(
            (v, a) for v in seen.VISIBILITIES for a in (ME, COLLEAGUE)
        )
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(messages), rows)
        for reader in (seen.VISITOR, seen.TEAM, seen.agent(ME), seen.agent(COLLEAGUE)):
            got = conn.execute(
                select(messages.c.seq).where(seen.readable_by(reader)).order_by(messages.c.seq)
            )
            expected = [
                r["seq"]
                for r in rows
                if seen.may_read(reader, r["visibility"], r["author_dev_user_id"])
            ]
            assert list(got.scalars()) == expected, reader
    engine.dispose()
