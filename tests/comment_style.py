"""How kgbridge's comments read (issue 12), checked on every comment the fake kintone receives
in every test (tests/conftest.py).

- One date shape: ``2026年12月1日（火）``. ``stray_dates`` lists the date-like pieces of a text in
  any other shape (ISO or slashed dates, a month and day without the year or the weekday) and
  full dates whose weekday is wrong.
- Whom a line is for is said as a sales manager writes it, ``上長：状況をご確認ください。``, not
  ``上長の方は、…``. ``old_address_forms`` lists the pieces in the old form.
"""

from __future__ import annotations

import re
from datetime import date

WEEKDAYS = "月火水木金土日"
FULL = re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日（([月火水木金土日])）")
OTHER_SHAPES = [
    re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"),             # 2026-12-01, 2026/12/1
    re.compile(r"(?<![\d/])\d{1,2}/\d{1,2}(?![\d/])"),         # 12/1
    re.compile(r"(?:\d{4}年)?\d{1,2}月\d{1,2}日(?:（.）)?"),    # 12月1日, 2026年12月01日 (no weekday)
]


def stray_dates(text: str) -> list[str]:
    found = []
    for match in FULL.finditer(text):
        year, month, day, weekday = match.groups()
        try:
            real = date(int(year), int(month), int(day))
        except ValueError:
            found.append(match.group(0))
            continue
        if WEEKDAYS[real.weekday()] != weekday or match.group(2).startswith("0") or match.group(3).startswith("0"):
            found.append(match.group(0))
    rest = FULL.sub("〓", text)
    for shape in OTHER_SHAPES:
        found += shape.findall(rest)
    return found


# The people comments speak to; 「上長の方は」「担当営業の方から」 is the form comments no longer use.
ADDRESSEES = "上長|担当営業|担当者|申請者|承認者|マーケティング部|取締役|法務担当|システム運用担当者"
OLD_ADDRESS = re.compile(rf"(?:{ADDRESSEES})の方(?:は|から|に|へ)")


def old_address_forms(text: str) -> list[str]:
    return OLD_ADDRESS.findall(text)
