from datetime import date, datetime

from flows.business_calendar import TOKYO, BusinessCalendar

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
