"""kintone's daily API quota: count our calls per app per day, slow the non-urgent sweeps past a share.

kintone allows KGBRIDGE_KINTONE_DAILY_QUOTA API calls per app per day (10,000 on the Standard
course, 100,000 on Wide; reference/kintone.md §0), and that budget belongs to the company's people
and other tools too. Every request the live kintone client sends (retries included) is counted
here, under the app it names, for the Japan date (``kgbridge:quota:<YYYY-MM-DD>`` is a hash of
app id → calls, kept QUOTA_KEEP_DAYS): one pipelined HINCRBY + EXPIRE, one Redis round trip per
kintone call. A bulkRequest.json counts for every app it touches; file uploads and downloads
name no app and are counted under ``file``. Assumed, UNCONFIRMED: kintone counts per app per
Japan day and counts every request, refused ones too.

Past KGBRIDGE_QUOTA_SLOWDOWN_SHARE of the quota on any app (default 0.6), the NON_URGENT periodic
tasks run only every KGBRIDGE_QUOTA_SLOWDOWN_FACTOR-th slot (kgbridge/periodic.py); webhooks'
flows and the sweeps people wait for (reminders of today's deadlines, held comments going out in
the morning) keep their pace. ``usage`` is what ``kgbridge quota``, ``kgbridge status`` and
``/metrics`` report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import redis

from kgbridge.settings import Settings

TOKYO = ZoneInfo("Asia/Tokyo")
PREFIX = "kgbridge:quota"
QUOTA_KEEP_DAYS = 3
FILE_CALLS = "file"  # the field for calls that name no app

# The periodic tasks that slow down past the share: finding lost webhooks again (their records
# still get their flows, later), the 稟議 delay sweep (days-long limits) and the check of contracts
# awaiting signature (GMO Sign's own callbacks come first). Not slowed: deadlines (a reminder due
# today), held_messages (comments waiting for the business morning).
NON_URGENT: frozenset[str] = frozenset({"reconcile", "workflow_delays", "open_envelopes"})

_log = logging.getLogger("kgbridge.quota")  # standard logging: called from any thread


def day_key(now: datetime | None = None) -> str:
    return f"{PREFIX}:{(now or datetime.now(TOKYO)).astimezone(TOKYO):%Y-%m-%d}"


class CallCounter:
    """The live kintone client's ``on_request`` hook: count one request for the apps it names."""

    def __init__(self, connection: redis.Redis, clock=None) -> None:
        self._connection = connection
        self._clock = clock or (lambda: datetime.now(TOKYO))
        self._warned = False

    def __call__(self, apps: list[str]) -> None:
        key = day_key(self._clock())
        try:
            with self._connection.pipeline(transaction=False) as pipe:
                for app in apps or [FILE_CALLS]:
                    pipe.hincrby(key, str(app), 1)
                pipe.expire(key, QUOTA_KEEP_DAYS * 24 * 3600)
                pipe.execute()
        except redis.RedisError as exc:  # never fail a kintone call for its count
            if not self._warned:
                _log.warning("could not count a kintone call: %s", type(exc).__name__)
                self._warned = True


@dataclass(frozen=True)
class AppUsage:
    app: str  # mapping key (or the app id / "file" when no mapping names it)
    app_id: str
    calls: int
    quota: int

    @property
    def share(self) -> float:
        return self.calls / self.quota if self.quota else 0.0

    def as_json(self) -> dict:
        return {"app": self.app, "app_id": self.app_id, "calls": self.calls, "quota": self.quota,
                "share": round(self.share, 4)}


def usage(connection: redis.Redis, settings: Settings, mappings=None, now: datetime | None = None) -> list[AppUsage]:
    """Today's (Japan date) kintone calls per app, every mapped app included (0 when unused)."""
    counted = {k.decode() if isinstance(k, bytes) else str(k): int(v)
               for k, v in (connection.hgetall(day_key(now)) or {}).items()}
    names = {m.id: m.key for m in mappings} if mappings is not None else {}
    ids = list(dict.fromkeys([*names, *counted]))
    return [AppUsage(names.get(app_id, app_id), app_id, counted.get(app_id, 0), settings.kintone_daily_quota)
            for app_id in ids]


def over_share(connection: redis.Redis, settings: Settings, now: datetime | None = None) -> list[str]:
    """The app ids past KGBRIDGE_QUOTA_SLOWDOWN_SHARE of today's quota (calls without an app aside)."""
    limit = settings.quota_slowdown_share * settings.kintone_daily_quota
    return [u.app_id for u in usage(connection, settings, now=now) if u.app_id != FILE_CALLS and u.calls >= limit]


def slowed(connection: redis.Redis, settings: Settings, now: datetime | None = None) -> bool:
    """True when the non-urgent sweeps run slower now."""
    return bool(over_share(connection, settings, now))


def status(connection: redis.Redis, settings: Settings, mappings=None, now: datetime | None = None) -> dict:
    """Everything an operator view needs: per-app usage, the share, whether sweeps are slowed."""
    apps = usage(connection, settings, mappings, now)
    limit = settings.quota_slowdown_share
    return {"day": day_key(now).rsplit(":", 1)[1], "quota_per_app": settings.kintone_daily_quota,
            "slowdown_share": limit, "slowdown_factor": settings.quota_slowdown_factor,
            "non_urgent": sorted(NON_URGENT),
            "slowed": any(u.share >= limit for u in apps if u.app_id != FILE_CALLS),
            "apps": [u.as_json() for u in apps]}


def metrics_lines(connection: redis.Redis, settings: Settings, mappings=None, now: datetime | None = None) -> list[str]:
    """Prometheus text lines for /metrics."""
    data = status(connection, settings, mappings, now)
    lines = ["# HELP kgbridge_kintone_calls_today kintone API calls kgbridge made today (Japan date), per app",
             "# TYPE kgbridge_kintone_calls_today gauge"]
    lines += [f'kgbridge_kintone_calls_today{{app="{a["app"]}",app_id="{a["app_id"]}"}} {a["calls"]}'
              for a in data["apps"]]
    lines += ["# HELP kgbridge_kintone_quota_share share of the daily per-app kintone quota kgbridge used today",
              "# TYPE kgbridge_kintone_quota_share gauge"]
    lines += [f'kgbridge_kintone_quota_share{{app="{a["app"]}",app_id="{a["app_id"]}"}} {a["share"]}'
              for a in data["apps"] if a["app_id"] != FILE_CALLS]
    lines += ["# HELP kgbridge_sweeps_slowed 1 while non-urgent sweeps run slower to spare the kintone quota",
              "# TYPE kgbridge_sweeps_slowed gauge", f"kgbridge_sweeps_slowed {int(data['slowed'])}"]
    return lines
