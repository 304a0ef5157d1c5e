"""Points in time for ``--since`` and ``--older-than``: ``30m``, ``6h``, ``30d``, ``2w`` or an ISO date/time.

A duration counts back from now. A date or datetime without an offset is read in Japan time
(Asia/Tokyo), the time the business and kintone's screens use; tables print Japan time too.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class WhenError(ValueError):
    pass


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An aware UTC datetime for a duration back from ``now`` or an ISO date/datetime."""
    now = now or datetime.now(UTC)
    match = _DURATION.match(text or "")
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return (now - timedelta(**{_UNITS[unit]: amount})).astimezone(UTC)
    value = (text or "").strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=TOKYO).astimezone(UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WhenError(
            f"{text!r} is neither a duration (30m, 6h, 30d, 2w) nor an ISO date/time (2026-11-24T09:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=TOKYO)
    return parsed.astimezone(UTC)


def parse_stamp(value: str | None) -> datetime | None:
    """Read a stored ISO timestamp (ours or kintone's ``...Z``); None when absent or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC for JSON output."""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def local(value: datetime | None) -> str:
    """Japan time for tables, to the minute."""
    return value.astimezone(TOKYO).strftime("%Y-%m-%d %H:%M") if value else "-"
