"""An app's office hours: checking what an admin sets, and whether the team
is in at a given instant.

Office hours are weekly wall-clock intervals in the app's IANA time zone,
``{"monday": [{"start": "09:00", "end": "17:30"}], ...}``. An interval whose
end is not after its start runs past midnight into the next day
(``22:00``-``02:00``); ``24:00`` ends one at midnight. A weekday that is
absent is closed all day, but only when some weekday has hours: with none at
all (the default) the team is always open.

Every instant is compared in UTC. Two aware datetimes that share one
``ZoneInfo`` compare by their wall-clock values, folds ignored, which is wrong
for the hour a clock repeats in autumn; converting first avoids that. A wall
time a clock skips in spring (02:30 in Europe/Berlin on the last Sunday of
March) is read with the offset before the change, so an interval starting
then starts at 03:30 of the new time, and one lying wholly inside the skipped
hour is empty.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from openplug.errors import InvalidField, ValueNotPermitted

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
)  # fmt: skip
ReplyTime = Literal["minutes", "hour", "hours", "day"]
# What the widget says under its title; the keys are what admins choose.
REPLY_TIME_TEXT: dict[str, str] = {
    "minutes": "Typically replies in a few minutes",
    "hour": "Typically replies within an hour",
    "hours": "Typically replies in a few hours",
    "day": "Typically replies within a day",
}
DEFAULT_TIME_ZONE = "UTC"
MAX_INTERVALS_PER_DAY = 6
# Looking this many days ahead always reaches every weekday once more.
_HORIZON_DAYS = 8

OfficeHours = dict[str, list[dict[str, str]]]
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]|24:00")


@dataclass(frozen=True)
class Availability:
    """Whether the team is in at one instant, and what the widget says."""

    open: bool
    # When closed: the next start of office hours (UTC); None when open.
    next_open_at: datetime | None
    reply_time_text: str | None


# --- checking what an admin sets ----------------------------------------------------


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # The IANA names only: ``ZoneInfo`` alone would also load any file that
    # happens to lie on its search path ("posixrules", "zone.tab" fails late).
    return frozenset(available_timezones())


def normalise_time_zone(value: str, field_name: str = "time_zone") -> str:
    name = value.strip()
    if name not in _zone_names():
        raise InvalidField(
            field_name,
            f"{field_name}: {value!r} is not an IANA time zone name like Europe/Berlin or UTC",
        )
    return name


def normalise_reply_time(value: str, field_name: str = "reply_time") -> str | None:
    """One of ``REPLY_TIME_TEXT``'s keys; "" clears it (the widget says none)."""
    if value == "":
        return None
    if value not in REPLY_TIME_TEXT:
        raise ValueNotPermitted(field_name, "not one of the allowed values", [*REPLY_TIME_TEXT, ""])
    return value


def normalise_away_message(value: str) -> str | None:
    """Kept as written; only blank means none."""
    return value if value.strip() else None


def normalise_office_hours(
    value: Mapping[str, Sequence[Mapping[str, str]] | None], field_name: str = "office_hours"
) -> OfficeHours | None:
    """What to store: the weekdays with intervals, in weekday order, each
    interval checked and named by its place (``office_hours.monday[0].end``);
    None when no weekday has any (always open)."""
    out: OfficeHours = {}
    for day, intervals in value.items():
        where = f"{field_name}.{day}"
        if day not in WEEKDAYS:
            raise ValueNotPermitted(where, "not a weekday", list(WEEKDAYS))
        if not intervals:
            continue
        if len(intervals) > MAX_INTERVALS_PER_DAY:
            raise InvalidField(where, f"{where}: at most {MAX_INTERVALS_PER_DAY} intervals a day")
        out[day] = [_interval(iv, f"{where}[{i}]") for i, iv in enumerate(intervals)]
    if not out:
        return None
    return {day: out[day] for day in WEEKDAYS if day in out}


def _interval(value: Mapping[str, str], where: str) -> dict[str, str]:
    for part in ("start", "end"):
        text = value.get(part)
        if text is None:
            raise InvalidField(f"{where}.{part}", f"{where}.{part} is required")
        if not isinstance(text, str) or not _CLOCK.fullmatch(text):
            raise InvalidField(
                f"{where}.{part}", f"{where}.{part}: {text!r} is not a time like 09:00 (to 24:00)"
            )
    start, end = value["start"], value["end"]
    if start == "24:00":
        raise InvalidField(f"{where}.start", f"{where}.start: 24:00 ends a day; start at 00:00")
    if start == end:
        # Neither "closed" nor "all day" for sure: 00:00-24:00 says the latter.
        raise InvalidField(f"{where}.end", f"{where}.end: the end must differ from the start")
    return {"start": start, "end": end}


# --- is the team in? ------------------------------------------------------------------


def availability_at(app_row: Mapping[str, Any], now: datetime) -> Availability:
    """The app's availability at ``now`` (an aware datetime): from the row's
    ``time_zone``, ``office_hours`` and ``reply_time`` as stored."""
    reply_time = app_row.get("reply_time")
    text = REPLY_TIME_TEXT.get(reply_time) if isinstance(reply_time, str) else None
    hours: OfficeHours | None = app_row.get("office_hours")
    if not hours:
        return Availability(True, None, text)
    zone = ZoneInfo(str(app_row.get("time_zone") or DEFAULT_TIME_ZONE))
    at = now.astimezone(UTC)
    starts_after: list[datetime] = []
    for start, end in _windows(hours, zone, at.astimezone(zone).date()):
        if start <= at < end:
            return Availability(True, None, text)
        if start > at:
            starts_after.append(start)
    return Availability(False, min(starts_after, default=None), text)


def _windows(
    hours: OfficeHours, zone: ZoneInfo, today: date
) -> Iterator[tuple[datetime, datetime]]:
    """Every interval from yesterday's (which may run into today) to a week
    ahead, as UTC instants; those a clock change leaves empty are skipped."""
    for offset in range(-1, _HORIZON_DAYS):
        day = today + timedelta(days=offset)
        for interval in hours.get(WEEKDAYS[day.weekday()], ()):
            start_text, end_text = interval["start"], interval["end"]
            start = _instant(day, start_text, zone)
            if end_text == "24:00":
                end = _instant(day + timedelta(days=1), "00:00", zone)
            elif end_text > start_text:
                end = _instant(day, end_text, zone)
            else:  # runs past midnight
                end = _instant(day + timedelta(days=1), end_text, zone)
            if start < end:
                yield start, end


def _instant(day: date, clock: str, zone: ZoneInfo) -> datetime:
    hour, minute = (int(p) for p in clock.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=zone).astimezone(UTC)
