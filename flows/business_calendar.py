"""Japanese business days: weekends, public holidays (jpholiday) and company holidays.

Deadlines in the seeds are counted in business days in Asia/Tokyo ("HP inquiries get a first
contact within 1 business day"); nobody is pinged on a weekend or holiday (seed 002).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import jpholiday

TOKYO = ZoneInfo("Asia/Tokyo")


class BusinessCalendar:
    def __init__(self, company_holidays: Iterable[date] = (), year_end: tuple[str, str] | None = ("12-29", "01-03"),
                 business_morning: time = time(9, 0)) -> None:
        """``year_end`` is the company's year-end break as (MM-DD, MM-DD), inclusive."""
        self.company_holidays = set(company_holidays)
        self.year_end = year_end
        self.business_morning = business_morning

    def is_business_day(self, day: date) -> bool:
        if day.weekday() >= 5 or jpholiday.is_holiday(day) or day in self.company_holidays:
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

    def add_business_days(self, day: date, n: int) -> date:
        """``day`` plus ``n`` business days (``day`` itself need not be one)."""
        for _ in range(n):
            day = self.next_business_day(day)
        return day

    def on_or_after(self, day: date) -> date:
        return day if self.is_business_day(day) else self.next_business_day(day)

    def business_days_between(self, start: date, end: date) -> int:
        """Business days after ``start`` up to and including ``end``."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            if self.is_business_day(day):
                count += 1
        return count

    def next_business_morning(self, moment: datetime) -> datetime:
        """``moment`` if it falls in a business day's working time, else the next business morning."""
        local = moment.astimezone(TOKYO)
        if self.is_business_day(local.date()) and local.time() >= self.business_morning:
            return local
        day = local.date() if self.is_business_day(local.date()) else self.next_business_day(local.date())
        return datetime.combine(day, self.business_morning, TOKYO)
