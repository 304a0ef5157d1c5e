"""Japanese business days: weekends, public holidays (jpholiday) and company holidays.

Deadlines in the seeds are counted in business days in Asia/Tokyo ("HP inquiries get a first
contact within 1 business day"); nobody is pinged on a weekend or holiday (seed 002), nor
outside working hours.

Company holidays come from configuration (``KGBRIDGE_COMPANY_HOLIDAYS``,
``KGBRIDGE_YEAR_END_BREAK``, ``KGBRIDGE_BUSINESS_HOURS``; ``kgbridge.bootstrap`` builds the
calendar from the settings).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import jpholiday

TOKYO = ZoneInfo("Asia/Tokyo")


class BusinessCalendar:
    def __init__(self, company_holidays: Iterable[date] = (), year_end: tuple[str, str] | None = ("12-29", "01-03"),
                 business_morning: time = time(9, 0), business_evening: time | None = time(18, 0),
                 annual_holidays: Iterable[str] = ()) -> None:
        """``year_end`` is the company's year-end break as (MM-DD, MM-DD), inclusive;
        ``annual_holidays`` are company days off every year, as MM-DD (e.g. a foundation day)."""
        self.company_holidays = set(company_holidays)
        self.annual_holidays = set(annual_holidays)
        self.year_end = year_end
        self.business_morning = business_morning
        self.business_evening = business_evening

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5 or jpholiday.is_holiday(day) or day in self.company_holidays:
            return False
        if day.strftime("%m-%d") in self.annual_holidays:
            return False
        return not self._in_year_end(day)

    def _in_year_end(self, day: date) -> bool:
        if not self.year_end:
            return False
        start, end = self.year_end
        mmdd = day.strftime("%m-%d")
        if start <= end:
            return start <= mmdd <= end
        return mmdd >= start or mmdd <= end

    def next_business_day(self, day: date) -> date:
        """The first business day strictly after ``day``."""
        day += timedelta(days=1)
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def previous_business_day(self, day: date) -> date:
        """The last business day strictly before ``day``."""
        day -= timedelta(days=1)
        while not self.is_business_day(day):
            day -= timedelta(days=1)
        return day

    def add_business_days(self, day: date, n: int) -> date:
        """``day`` plus ``n`` business days (``day`` itself need not be one); negative ``n`` counts back."""
        step = self.next_business_day if n >= 0 else self.previous_business_day
        for _ in range(abs(n)):
            day = step(day)
        return day

    def on_or_after(self, day: date) -> date:
        return day if self.is_business_day(day) else self.next_business_day(day)

    def on_or_before(self, day: date) -> date:
        return day if self.is_business_day(day) else self.previous_business_day(day)

    def business_days_between(self, start: date, end: date) -> int:
        """Business days after ``start`` up to and including ``end``."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count += 1
        return count

    def add_business_hours(self, moment: datetime, hours: float) -> datetime:
        """``moment`` plus ``hours``, where only the hours of business days count (all 24 of them).

        "Within 24 hours" of a Friday visit thus ends on Monday at the same time, not on Saturday.
        """
        local = moment.astimezone(TOKYO)
        remaining = timedelta(hours=hours)
        while True:
            if not self.is_business_day(local.date()):
                local = datetime.combine(self.next_business_day(local.date()), time(0), TOKYO)
                continue
            midnight = datetime.combine(local.date() + timedelta(days=1), time(0), TOKYO)
            if local + remaining <= midnight:
                return local + remaining
            remaining -= midnight - local
            local = midnight

    def is_working_time(self, moment: datetime) -> bool:
        """True on a business day between the business morning and evening (Tokyo time)."""
        local = moment.astimezone(TOKYO)
        if not self.is_business_day(local.date()) or local.time() < self.business_morning:
            return False
        return self.business_evening is None or local.time() < self.business_evening

    def next_business_morning(self, moment: datetime) -> datetime:
        """``moment`` if it falls in a business day's working time, else the next business morning."""
        local = moment.astimezone(TOKYO)
        if self.is_working_time(local):
            return local
        day = local.date()
        if not self.is_business_day(day) or local.time() >= self.business_morning:
            day = self.next_business_day(day)
        return datetime.combine(day, self.business_morning, TOKYO)


# -- configuration ---------------------------------------------------------------------------
# The settings hold plain strings (environment variables); these turn them into calendar
# arguments and raise ValueError with a message naming the bad part.

def _mmdd(text: str) -> str:
    try:
        datetime.strptime(f"2000-{text}", "%Y-%m-%d")  # 2000 is a leap year: 02-29 is allowed
    except ValueError:
        raise ValueError(f"{text!r} is not a month and day (MM-DD)") from None
    return text


def parse_company_holidays(items: Iterable[str]) -> tuple[set[date], set[str]]:
    """Dates (``2026-08-13``), ranges (``2026-08-13..2026-08-16``) and yearly days (``05-01``)."""
    dates: set[date] = set()
    annual: set[str] = set()
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if len(item) == 5:
            annual.add(_mmdd(item))
            continue
        first, _, last = item.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise ValueError(f"{item!r} is not a date (YYYY-MM-DD), a range (YYYY-MM-DD..YYYY-MM-DD) "
                             "or a yearly day (MM-DD)") from None
        if end < start or (end - start).days > 366:
            raise ValueError(f"{item!r} is not a range of at most a year from an earlier to a later date")
        while start <= end:
            dates.add(start)
            start += timedelta(days=1)
    return dates, annual


def parse_year_end(text: str) -> tuple[str, str] | None:
    """``12-29..01-03`` (inclusive); empty or ``none`` for no year-end break."""
    text = text.strip()
    if text.lower() in ("", "none"):
        return None
    first, sep, last = text.partition("..")
    if not sep:
        raise ValueError(f"{text!r} is not a range of month-days such as 12-29..01-03")
    return _mmdd(first.strip()), _mmdd(last.strip())


def parse_business_hours(text: str) -> tuple[time, time]:
    """``09:00-18:00``: when reminders may be posted on a business day."""
    try:
        first, last = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"{text!r} is not a range of times such as 09:00-18:00") from None
    if not first < last:
        raise ValueError(f"{text!r}: the start must be before the end")
    return first, last
