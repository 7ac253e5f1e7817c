"""Availability: an app's time zone, weekly office hours, expected reply time
and away message, and whether its team is in at a given instant."""

from openplug.availability.hours import (
    REPLY_TIME_TEXT,
    WEEKDAYS,
    Availability,
    ReplyTime,
    Weekday,
    availability_at,
)
from openplug.availability.settings import AvailabilityChange

__all__ = [
    "REPLY_TIME_TEXT",
    "WEEKDAYS",
    "Availability",
    "AvailabilityChange",
    "ReplyTime",
    "Weekday",
    "availability_at",
]
