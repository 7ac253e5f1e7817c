"""``availability_at`` without HTTP: office hours in the app's zone, across
midnight and across both of a year's clock changes, and what admins may set."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from openplug.availability import availability_at
from openplug.availability.hours import normalise_office_hours, normalise_time_zone
from openplug.errors import InvalidField, ValueNotPermitted

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_TO_5 = {
    day: [{"start": "09:00", "end": "17:30"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}


def app(hours: Any, zone: str = "Europe/Berlin", reply_time: str | None = "hour") -> dict[str, Any]:
    return {"time_zone": zone, "office_hours": hours, "reply_time": reply_time}


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


def test_without_office_hours_the_team_is_always_in() -> None:
    found = availability_at(app(None), datetime(2025, 1, 5, 3, 0, tzinfo=UTC))
    assert (found.open, found.next_open_at) == (True, None)
    assert found.reply_time_text == "Typically replies within an hour"
    assert availability_at(app(None, reply_time=None), datetime.now(UTC)).reply_time_text is None


def test_weekday_hours_in_the_apps_zone() -> None:
    hours = WEEKDAYS_9_TO_5
    # Wednesday 2025-01-08, 09:00 Berlin is 08:00 UTC.
    assert availability_at(app(hours), datetime(2025, 1, 8, 7, 59, tzinfo=UTC)).open is False
    assert availability_at(app(hours), datetime(2025, 1, 8, 8, 0, tzinfo=UTC)).open is True
    assert availability_at(app(hours), berlin(2025, 1, 8, 17, 29)).open is True
    closing = availability_at(app(hours), berlin(2025, 1, 8, 17, 30))
    assert closing.open is False
    assert closing.next_open_at == berlin(2025, 1, 9, 9, 0)
    # Friday evening: back on Monday morning.
    weekend = availability_at(app(hours), berlin(2025, 1, 10, 20, 0))
    assert weekend.next_open_at == berlin(2025, 1, 13, 9, 0)
    assert weekend.next_open_at is not None and weekend.next_open_at.tzinfo == UTC


def test_an_interval_that_runs_past_midnight() -> None:
    # Friday 22:00 to Saturday 02:00, and Sunday 20:00 to midnight.
    hours = {
        "friday": [{"start": "22:00", "end": "02:00"}],
        "sunday": [{"start": "20:00", "end": "24:00"}],
    }
    assert availability_at(app(hours), berlin(2025, 1, 10, 21, 59)).open is False
    assert availability_at(app(hours), berlin(2025, 1, 10, 23, 30)).open is True
    # Saturday early: still Friday's interval (yesterday's, seen from today).
    assert availability_at(app(hours), berlin(2025, 1, 11, 1, 59)).open is True
    after = availability_at(app(hours), berlin(2025, 1, 11, 2, 0))
    assert (after.open, after.next_open_at) == (False, berlin(2025, 1, 12, 20, 0))
    assert availability_at(app(hours), berlin(2025, 1, 12, 23, 59)).open is True
    monday = availability_at(app(hours), berlin(2025, 1, 13, 0, 0))
    assert (monday.open, monday.next_open_at) == (False, berlin(2025, 1, 17, 22, 0))


def test_spring_forward_skips_an_hour_of_office_hours() -> None:
    # 2025-03-30 (Sunday): Berlin's clocks go from 02:00 CET to 03:00 CEST.
    hours = {"sunday": [{"start": "01:00", "end": "04:00"}, {"start": "09:00", "end": "10:00"}]}
    assert availability_at(app(hours), datetime(2025, 3, 30, 0, 30, tzinfo=UTC)).open is True
    # 03:59 CEST is 01:59 UTC: open; 04:00 CEST (02:00 UTC) closed. The
    # interval lasted two hours of real time, not three.
    assert availability_at(app(hours), datetime(2025, 3, 30, 1, 59, tzinfo=UTC)).open is True
    closed = availability_at(app(hours), datetime(2025, 3, 30, 2, 0, tzinfo=UTC))
    assert closed.open is False
    # 09:00 in summer time is 07:00 UTC, not 08:00.
    assert closed.next_open_at == datetime(2025, 3, 30, 7, 0, tzinfo=UTC)
    assert availability_at(app(hours), datetime(2025, 3, 30, 7, 0, tzinfo=UTC)).open is True


def test_fall_back_repeats_an_hour_of_office_hours() -> None:
    # 2025-10-26 (Sunday): 03:00 CEST becomes 02:00 CET; 02:00-03:00 is lived twice.
    hours = {"sunday": [{"start": "00:00", "end": "03:00"}]}
    # 00:00 CEST is 22:00 UTC on Saturday; 03:00 CET is 02:00 UTC: four hours open.
    assert availability_at(app(hours), datetime(2025, 10, 25, 21, 59, tzinfo=UTC)).open is False
    assert availability_at(app(hours), datetime(2025, 10, 25, 22, 0, tzinfo=UTC)).open is True
    # 02:30 CET, the second time the clock shows 02:30: still open (a naive
    # comparison in one ZoneInfo would not tell the two 02:30s apart).
    assert availability_at(app(hours), datetime(2025, 10, 26, 1, 30, tzinfo=UTC)).open is True
    after = availability_at(app(hours), datetime(2025, 10, 26, 2, 0, tzinfo=UTC))
    assert after.open is False
    assert after.next_open_at == datetime(2025, 11, 1, 23, 0, tzinfo=UTC)


def test_the_same_hours_in_another_zone() -> None:
    hours = {"monday": [{"start": "09:00", "end": "10:00"}]}
    tokyo = availability_at(app(hours, "Asia/Tokyo"), datetime(2025, 1, 6, 0, 30, tzinfo=UTC))
    assert tokyo.open is True  # 09:30 in Tokyo
    assert availability_at(app(hours, "UTC"), datetime(2025, 1, 6, 0, 30, tzinfo=UTC)).open is False


def test_what_admins_may_set() -> None:
    assert normalise_office_hours({"friday": [{"start": "22:00", "end": "02:00"}],
                                   "monday": [], "sunday": None}) == {
        "friday": [{"start": "22:00", "end": "02:00"}]
    }  # fmt: skip
    assert normalise_office_hours({}) is None
    assert normalise_office_hours({"monday": []}) is None
    assert normalise_time_zone(" America/New_York ") == "America/New_York"
    rejected: list[tuple[Any, str]] = [
        ({"monday": [{"start": "09:00", "end": "17:00"}, {"start": "9am", "end": "17:00"}]},
         "office_hours.monday[1].start"),
        ({"tuesday": [{"start": "09:00", "end": "09:00"}]}, "office_hours.tuesday[0].end"),
        ({"tuesday": [{"start": "24:00", "end": "01:00"}]}, "office_hours.tuesday[0].start"),
        ({"wednesday": [{"start": "09:00", "end": "25:00"}]}, "office_hours.wednesday[0].end"),
        ({"wednesday": [{"start": "09:00"}]}, "office_hours.wednesday[0].end"),
    ]  # fmt: skip
    for value, field in rejected:
        with pytest.raises(InvalidField) as e:
            normalise_office_hours(value)
        assert e.value.extra["field_name"] == field
    with pytest.raises(ValueNotPermitted) as v:
        normalise_office_hours({"mondey": [{"start": "09:00", "end": "10:00"}]})
    assert v.value.extra["field_name"] == "office_hours.mondey"
    for zone in ("Mars/Olympus", "../../etc/passwd", "", "posixrules"):
        with pytest.raises(InvalidField):
            normalise_time_zone(zone)
