"""Who may read a timeline entry: DevRev's ``visibility``, as openplug
keeps it.

- ``external`` (the default) and ``public``: the visitors in the
  conversation and every agent. openplug has no readers beyond those, so
  ``public`` reads exactly as ``external`` does; it is stored and shown as
  given.
- ``internal``: a note; every agent, never a visitor.
- ``private``: only the agent who wrote it (DevRev: "only visible to the
  creator"); other agents, webhooks and mail never see it.

Every read of messages goes through ``readable_by``, so a path that forgets
to ask cannot exist without also forgetting its ``Reader``. A visitor's
stream (socket, ``messages.list``, unread counts, mail) skips the seqs of
entries it may not read: seqs are per conversation, shared by all entries,
and readers already resume across gaps (a deleted entry leaves one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, Table, or_

from openplug.conversations.tables import messages
from openplug.errors import ValueNotPermitted

Visibility = Literal["external", "internal", "private", "public"]
VISIBILITIES: tuple[Visibility, ...] = ("external", "internal", "private", "public")
# What a visitor sees, and all a visitor may write.
SHOWN_TO_VISITORS: tuple[Visibility, ...] = ("external", "public")
VISITOR_MAY_POST: tuple[Visibility, ...] = ("external",)
# Every agent sees these: what is not only its author's.
SHOWN_TO_AGENTS: tuple[Visibility, ...] = ("external", "internal", "public")


@dataclass(frozen=True)
class Reader:
    """Whose view a read is for. ``visitor``: a rev user's (the widget, their
    mail, their export); ``agent``: one dev user's (their own private
    entries too); ``team``: the organisation's systems (webhooks, agents'
    digests), which see what every agent sees."""

    kind: Literal["visitor", "agent", "team"]
    dev_user_key: int | None = None


VISITOR = Reader("visitor")
TEAM = Reader("team")


def agent(dev_user_key: int) -> Reader:
    return Reader("agent", dev_user_key)


def shown_to_visitors(visibility: str) -> bool:
    return visibility in SHOWN_TO_VISITORS


def may_read(reader: Reader, visibility: str, author_dev_user_key: int | None) -> bool:
    """The rule ``readable_by`` puts in SQL, for one entry in hand."""
    if reader.kind == "visitor":
        return shown_to_visitors(visibility)
    if visibility in SHOWN_TO_AGENTS:
        return True
    return reader.kind == "agent" and author_dev_user_key == reader.dev_user_key


def readable_by(reader: Reader, table: Table = messages) -> ColumnElement[bool]:
    """Rows of ``table`` (``messages``, or ``deleted_entries``: what a
    reader is told was deleted) ``reader`` may see, as a WHERE clause."""
    c = table.c
    if reader.kind == "visitor":
        return c.visibility.in_(SHOWN_TO_VISITORS)
    if reader.kind == "agent":
        return or_(
            c.visibility.in_(SHOWN_TO_AGENTS),
            (c.visibility == "private") & (c.author_dev_user_id == reader.dev_user_key),
        )
    return c.visibility.in_(SHOWN_TO_AGENTS)


def check_visitor_post(visibility: Any) -> Visibility:
    """A visitor writes only what the visitors see: anything else is a 400
    naming ``visibility`` (a widget is not to mark its own words a note)."""
    if visibility is None:
        return "external"
    if visibility not in VISITOR_MAY_POST:
        raise ValueNotPermitted(
            "visibility", "a visitor's message is seen by the visitors", list(VISITOR_MAY_POST)
        )
    return "external"


def check_filter(values: list[str] | None) -> list[str] | None:
    """``timeline-entries.list``'s strict ``visibility`` filter, each value checked."""
    for i, value in enumerate(values or ()):
        if value not in VISIBILITIES:
            raise ValueNotPermitted(
                f"visibility[{i}]", "not one of the allowed values", list(VISIBILITIES)
            )
    return values
