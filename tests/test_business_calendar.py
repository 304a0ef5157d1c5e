from datetime import date, datetime, time

import pytest

from flows.business_calendar import (
    TOKYO,
    BusinessCalendar,
    parse_business_hours,
    parse_company_holidays,
    parse_year_end,
)
from kgbridge.settings import SettingsError, load_settings

cal = BusinessCalendar()


def test_weekends_public_holidays_and_year_end_are_not_business_days():
    assert not cal.is_business_day(date(2026, 11, 21))  # Saturday
    assert not cal.is_business_day(date(2026, 11, 23))  # 勤労感謝の日
    assert not cal.is_business_day(date(2026, 12, 30))  # year-end break
    assert not cal.is_business_day(date(2027, 1, 2))
    assert cal.is_business_day(date(2026, 11, 24))


def test_friday_evening_before_a_holiday_monday_is_due_on_tuesday():
    # 2026-09-18 (Fri); 2026-09-21 is 敬老の日, 2026-09-22 国民の休日, 2026-09-23 秋分の日.
    assert cal.add_business_days(date(2026, 9, 18), 1) == date(2026, 9, 24)
    assert cal.add_business_days(date(2027, 1, 8), 1) == date(2027, 1, 12)  # Mon 11th is 成人の日


def test_company_holidays_come_from_configuration():
    custom = BusinessCalendar(company_holidays=[date(2026, 11, 24)])
    assert custom.next_business_day(date(2026, 11, 20)) == date(2026, 11, 25)


def test_reminders_wait_for_the_next_business_morning():
    saturday_noon = datetime(2026, 11, 21, 12, 0, tzinfo=TOKYO)
    assert cal.next_business_morning(saturday_noon) == datetime(2026, 11, 24, 9, 0, tzinfo=TOKYO)
    tuesday_early = datetime(2026, 11, 24, 7, 30, tzinfo=TOKYO)
    assert cal.next_business_morning(tuesday_early) == datetime(2026, 11, 24, 9, 0, tzinfo=TOKYO)
    tuesday_ten = datetime(2026, 11, 24, 10, 0, tzinfo=TOKYO)
    assert cal.next_business_morning(tuesday_ten) == tuesday_ten


def test_business_hours_count_only_the_hours_of_business_days():
    friday_three_pm = datetime(2026, 10, 16, 15, 0, tzinfo=TOKYO)
    assert cal.add_business_hours(friday_three_pm, 24) == datetime(2026, 10, 19, 15, 0, tzinfo=TOKYO)
    assert cal.add_business_hours(friday_three_pm, 6) == datetime(2026, 10, 16, 21, 0, tzinfo=TOKYO)
    holiday_morning = datetime(2026, 10, 12, 10, 0, tzinfo=TOKYO)  # スポーツの日: the clock starts on Tuesday
    assert cal.add_business_hours(holiday_morning, 24) == datetime(2026, 10, 14, 0, 0, tzinfo=TOKYO)


def test_working_time_is_business_days_between_morning_and_evening():
    assert cal.is_working_time(datetime(2026, 10, 13, 9, 0, tzinfo=TOKYO))
    assert not cal.is_working_time(datetime(2026, 10, 13, 18, 0, tzinfo=TOKYO))
    assert not cal.is_working_time(datetime(2026, 10, 12, 10, 0, tzinfo=TOKYO))  # holiday
    friday_evening = datetime(2026, 10, 9, 19, 0, tzinfo=TOKYO)
    assert cal.next_business_morning(friday_evening) == datetime(2026, 10, 13, 9, 0, tzinfo=TOKYO)


def test_counting_back_skips_days_off_too():
    assert cal.add_business_days(date(2026, 10, 13), -1) == date(2026, 10, 9)
    assert cal.on_or_before(date(2026, 10, 11)) == date(2026, 10, 9)


def test_company_days_off_are_read_from_dates_ranges_and_yearly_days():
    dates, annual = parse_company_holidays(["2026-08-13..2026-08-15", "2026-10-02", "05-01"])
    custom = BusinessCalendar(company_holidays=dates, annual_holidays=annual, year_end=parse_year_end("none"))
    assert not custom.is_business_day(date(2026, 8, 14))
    assert not custom.is_business_day(date(2026, 10, 2))
    assert not custom.is_business_day(date(2026, 5, 1))
    assert custom.is_business_day(date(2026, 12, 30))  # no year-end break configured
    assert parse_business_hours("08:30-17:30") == (time(8, 30), time(17, 30))


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-08-15..2026-08-13", "13-45", "next friday"])
def test_a_bad_company_holiday_is_refused_with_its_value(bad):
    with pytest.raises(ValueError, match=bad.split("..")[0]):
        parse_company_holidays([bad])


def test_bad_calendar_settings_stop_the_start_naming_the_variable(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_COMPANY_HOLIDAYS", "2026-08-13,someday")
    monkeypatch.setenv("KGBRIDGE_BUSINESS_HOURS", "18:00-09:00")
    with pytest.raises(SettingsError) as exc:
        load_settings(connector_mode="fake")
    assert "KGBRIDGE_COMPANY_HOLIDAYS" in str(exc.value) and "KGBRIDGE_BUSINESS_HOURS" in str(exc.value)
