"""What an admin changes about an app's availability, checked once for the
API, the inbox's settings page and the CLI alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from openplug.availability.hours import (
    normalise_away_message,
    normalise_office_hours,
    normalise_reply_time,
    normalise_time_zone,
)

# The apps columns these settings live in, as ``_settings_of`` reports them.
COLUMNS = ("time_zone", "office_hours", "reply_time", "away_message")


@dataclass(frozen=True)
class AvailabilityChange:
    """None leaves a setting as it is. ``office_hours`` ``{}`` means always
    open; ``reply_time`` and ``away_message`` ``""`` clear them."""

    time_zone: str | None = None
    office_hours: Mapping[str, Sequence[Mapping[str, str]] | None] | None = None
    reply_time: str | None = None
    away_message: str | None = None

    def columns(self) -> dict[str, Any]:
        """The apps columns to write, each value checked (``InvalidField``
        names the first bad one)."""
        values: dict[str, Any] = {}
        if self.time_zone is not None:
            values["time_zone"] = normalise_time_zone(self.time_zone)
        if self.office_hours is not None:
            values["office_hours"] = normalise_office_hours(self.office_hours)
        if self.reply_time is not None:
            values["reply_time"] = normalise_reply_time(self.reply_time)
        if self.away_message is not None:
            values["away_message"] = normalise_away_message(self.away_message)
        return values
