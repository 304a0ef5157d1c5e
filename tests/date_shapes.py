"""One date shape in every comment kgbridge posts (issue 12): ``2026年12月1日（火）``.

``stray_dates`` lists the date-like pieces of a text that are not in that shape (ISO or slashed
dates, a month and day without the year or the weekday) and full dates whose weekday is wrong.
tests/conftest.py runs it over every comment the fake kintone received in every test.
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
