"""The comment-style checks themselves (tests/comment_style.py): they find what they are meant to find."""

from datetime import date, datetime

from flows.business_calendar import TOKYO
from mappings.japanese_dates import full_date, full_moment
from tests.comment_style import old_address_forms, stray_dates


def test_the_helper_prints_year_month_day_and_weekday():
    assert full_date(date(2026, 12, 1)) == "2026年12月1日（火）"
    assert full_date(date(2027, 1, 3)) == "2027年1月3日（日）"
    assert full_moment(datetime(2026, 12, 1, 1, 30, tzinfo=TOKYO)) == "2026年12月1日（火）01:30"
    # a UTC moment reads as its day in Tokyo
    assert full_moment(datetime.fromisoformat("2026-11-30T15:00:00+00:00")) == "2026年12月1日（火）00:00"
    assert full_date(datetime.fromisoformat("2026-11-30T15:00:00+00:00")) == "2026年12月1日（火）"


def test_full_dates_pass_and_every_other_shape_is_found():
    assert stray_dates(f"期限：{full_date(date(2026, 12, 1))}14:00、受付日：2026年12月2日（水）") == []
    assert stray_dates("12月1日（火）まで") == ["12月1日（火）"]
    assert stray_dates("申請日（2026年12月01日）") == ["2026年12月01日"]
    assert stray_dates("2026年12月1日に") == ["2026年12月1日"]
    assert stray_dates("期限 2026-12-01 まで") == ["2026-12-01"]
    assert stray_dates("12/1 までに") == ["12/1"]
    assert stray_dates("2026年12月1日（水）") == ["2026年12月1日（水）"]   # the weekday is wrong


def test_other_numbers_are_not_dates():
    assert stray_dates("稟議 #12 を 10:00 に、06_1 の評点 55、離職率 12.5%、1ヶ月フォロー、3か月前") == []


def test_the_old_address_form_is_found_and_the_new_one_passes():
    assert old_address_forms("上長の方は、状況のご確認をお願いします。お礼電話は上長の方から") == ["上長の方は", "上長の方から"]
    assert old_address_forms("上長：状況をご確認ください。\n担当営業：至急ご連絡ください。") == []
    assert old_address_forms("60歳以上の方に限る派遣") == []
