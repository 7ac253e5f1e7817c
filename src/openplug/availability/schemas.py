"""Availability as the API reads and shows it: ``apps.update``'s fields, the
app's answer, and what the widget's ``config`` call says."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from openplug.availability.hours import MAX_INTERVALS_PER_DAY
from openplug.crm.fields import Strict
from openplug.crm.schemas import Date
from openplug.web.openapi import Answer

Clock = Annotated[
    str,
    Field(
        pattern=r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$",
        description="Wall-clock time in the app's time zone, HH:MM (24:00 ends at midnight)",
        examples=["09:00"],
    ),
]
TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, description="IANA name", examples=["Europe/Berlin"])
]
ReplyTimeChoice = Literal["minutes", "hour", "hours", "day", ""]
AwayMessage = Annotated[str, Field(max_length=2000)]


class OpenInterval(Strict):
    """Open from ``start`` to ``end``; an end not after the start runs past
    midnight into the next day."""

    start: Clock
    end: Clock


DayHours = Annotated[list[OpenInterval], Field(max_length=MAX_INTERVALS_PER_DAY)]


class WeeklyHours(Strict):
    """A weekday left out (or empty) is closed, unless no weekday has hours:
    then the team is always open."""

    monday: DayHours | None = None
    tuesday: DayHours | None = None
    wednesday: DayHours | None = None
    thursday: DayHours | None = None
    friday: DayHours | None = None
    saturday: DayHours | None = None
    sunday: DayHours | None = None


class AvailabilityFields(Strict):
    """The fields ``apps.update`` takes (None: unchanged)."""

    time_zone: TimeZoneName | None = None
    office_hours: WeeklyHours | None = Field(
        default=None, description="Replaces the weekly hours; `{}` means always open"
    )
    reply_time: ReplyTimeChoice | None = Field(
        default=None,
        description='"minutes", "hour", "hours" or "day": "Typically replies within an hour"; '
        '"" says nothing',
    )
    away_message: AwayMessage | None = Field(
        default=None,
        description="Posted once per conversation when a visitor writes outside office hours; "
        '"" posts none',
    )


# --- answers ------------------------------------------------------------------------


class IntervalView(Answer):
    start: str
    end: str


class WeeklyHoursView(Answer):
    monday: list[IntervalView] | None = None
    tuesday: list[IntervalView] | None = None
    wednesday: list[IntervalView] | None = None
    thursday: list[IntervalView] | None = None
    friday: list[IntervalView] | None = None
    saturday: list[IntervalView] | None = None
    sunday: list[IntervalView] | None = None


class AvailabilityView(Answer):
    """What the widget shows, computed on the server at the time of the call."""

    open: bool = Field(description="Inside office hours now (always, without office hours)")
    next_open_at: Date | None = Field(description="When closed: the next start of office hours")
    reply_time: Literal["minutes", "hour", "hours", "day"] | None
    reply_time_text: str | None = Field(examples=["Typically replies within an hour"])
