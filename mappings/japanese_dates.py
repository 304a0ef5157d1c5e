"""How a date reads in every comment and message kgbridge writes: ``2026年12月1日（火）``.

One shape everywhere (issue 12): the year, the month and day without leading zeros, and the
weekday in full-width parentheses; a time of day follows as ``10:00`` (Asia/Tokyo). Kept in the
domain layer so the rules' own messages (mappings/) and the flows' comments (flows/) share it.
Contract documents (merge fields sent to GMO Sign) keep their own shape: mappings/contracts.py.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
WEEKDAYS = "月火水木金土日"


def full_date(day: date) -> str:
    """``2026年12月1日（火）``; a datetime is read as its day in Tokyo."""
    if isinstance(day, datetime):
        day = day.astimezone(TOKYO).date()
    return f"{day.year}年{day.month}月{day.day}日（{WEEKDAYS[day.weekday()]}）"


def full_moment(value: date | datetime) -> str:
    """``2026年12月1日（火）10:00`` for a datetime (in Tokyo), the date alone for a date."""
    if isinstance(value, datetime):
        local = value.astimezone(TOKYO)
        return f"{full_date(local.date())}{local:%H:%M}"
    return full_date(value)
