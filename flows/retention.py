"""延長率 and 終了率, measured each month (issue 13; seed 001: "延長率(隠れたスタート!として)を取って称賛
する", "驚異の延長率95%超え").

A month's **renewals due** are the concluded individual contracts whose dispatch ends in that month:
on their 派遣終了日, or on their 中途終了日 when they ended early (counted in the month they ended).
Of those, **renewed** have 更新結果 延長 and **ended** have 更新結果 終了 or a 中途終了日 (by 終了理由);
the rest are **undecided**. 延長率 = renewed / due, 終了率 = ended / due, in percent to one decimal
(none when nothing was due). Counted for the whole company and per sales rep (担当営業), team (the
rep's team in kpi.toml [retention.teams]) and client (派遣先).

The figures go to the KPI app (kpi.toml), one record per month and scope, keyed by 集計キー
(``2026-11:担当営業:sato``), so kintone's own graphs can show them: a record is added when missing,
updated when its figures changed, and left alone otherwise — a re-run writes nothing new.

kintone calls: one query per 500 contracts due, one query for the month's KPI records, one bulk add
(≤ 100 records) and one bulk update (≤ 100) when something changed.

The workers keep the KPI app without cron (``keep_kpi``, the periodic task ``retention_kpi``, daily
by default): each run measures the **previous** month (in Tokyo) and upserts it, so the first run of
a month writes the month before, and the later runs of that month write only what changed since
(an 更新結果 or 終了理由 recorded late) — a run with nothing new changes nothing. A month is left
alone once the next one has begun; ``kgbridge report retention --month`` re-measures any month.
"""

from __future__ import annotations

import calendar
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from connectors.kintone.interface import RecordUpdate
from flows.deadlines import fetch_all
from mappings import AppMapping, MappingError, Mappings

KPI_APP = "retention_kpi"
COMPANY, REP, TEAM, CLIENT = "全社", "担当営業", "チーム", "派遣先"
SCOPES = (COMPANY, REP, TEAM, CLIENT)
BULK = 100  # kintone's most records per bulk add / update
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class RetentionError(MappingError):
    """The report cannot be made as asked (a bad month, no KPI app mapped)."""


@dataclass
class Figures:
    month: str
    scope: str  # 全社 / 担当営業 / チーム / 派遣先
    key: str  # what the scope is about: a login name, a team, a client ("全社" for the company)
    name: str  # how it reads: the rep's name, the team, the client
    due: int = 0
    renewed: int = 0
    ended: int = 0
    reasons: Counter = field(default_factory=Counter)

    @property
    def undecided(self) -> int:
        return self.due - self.renewed - self.ended

    @property
    def renewal_rate(self) -> float | None:
        return round(100 * self.renewed / self.due, 1) if self.due else None

    @property
    def end_rate(self) -> float | None:
        return round(100 * self.ended / self.due, 1) if self.due else None

    @property
    def kpi_key(self) -> str:
        return f"{self.month}:{self.scope}:{self.key}"

    def reasons_text(self) -> str:
        return "\n".join(f"{reason}：{n}" for reason, n in sorted(self.reasons.items(), key=lambda x: (-x[1], x[0])))

    def as_json(self) -> dict:
        return {"month": self.month, "scope": self.scope, "key": self.key, "name": self.name, "due": self.due,
                "renewed": self.renewed, "ended": self.ended, "undecided": self.undecided,
                "renewal_rate": self.renewal_rate, "end_rate": self.end_rate, "end_reasons": dict(self.reasons)}


def previous_month(today: date) -> str:
    """``YYYY-MM`` of the month before ``today``'s."""
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def keep_kpi(ctx) -> str:
    """The periodic task: the previous month's figures upserted into the KPI app; what it wrote."""
    if KPI_APP not in ctx.mappings or "contracts" not in ctx.mappings:
        return "no_kpi_app"  # this company maps no KPI (or no Contracts) app
    month = previous_month(ctx.now().date())
    written = write_kpi(ctx.kintone, ctx.mappings, month, measure(ctx.kintone, ctx.mappings, month))
    ctx.report(f"{month}: {written['added']} added, {written['updated']} updated, "
               f"{written['unchanged']} unchanged in the KPI app")
    return f"{month} " + " ".join(f"{k}={v}" for k, v in written.items())


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of ``YYYY-MM``."""
    found = _MONTH.match(month or "")
    if not found:
        raise RetentionError(f"month {month!r}: give it as YYYY-MM, e.g. 2026-11")
    year, number = int(found.group(1)), int(found.group(2))
    return date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])


def measure(kintone, mappings: Mappings, month: str) -> list[Figures]:
    """The month's figures for the company, each rep, team and client (company first, then by scope and name)."""
    first, last = month_days(month)
    contracts = mappings["contracts"]
    teams = mappings[KPI_APP].settings("retention").get("teams", {}) if KPI_APP in mappings else {}
    no_team = (mappings[KPI_APP].settings("retention").get("no_team", "（チーム未設定）")
               if KPI_APP in mappings else "（チーム未設定）")
    renewals = contracts.settings("renewals")
    renewed_value, ended_value = renewals.get("renewed", "延長"), renewals.get("ended", "終了")
    unknown_reason = renewals.get("unknown_reason", "（終了理由未選択）")
    figures: dict[tuple[str, str], Figures] = {}

    def bucket(scope: str, key: str, name: str) -> Figures:
        return figures.setdefault((scope, key), Figures(month, scope, key, name))

    for values in due_contracts(kintone, contracts, first, last):
        reps = [u for u in values.get("sales_rep") or [] if u.code]
        rep = reps[0] if reps else None
        team = teams.get(rep.code, no_team) if rep else no_team
        client = (values.get("client") or "").strip() or "（派遣先未入力）"
        ended = values.get("ended_early_on") is not None or values.get("renewal_outcome") == ended_value
        renewed = not ended and values.get("renewal_outcome") == renewed_value
        reason = values.get("end_reason") or unknown_reason
        targets = [bucket(COMPANY, COMPANY, COMPANY), bucket(TEAM, team, team), bucket(CLIENT, client, client)]
        targets.append(bucket(REP, rep.code, rep.name or rep.code) if rep else bucket(REP, "-", "（担当営業未設定）"))
        for target in targets:
            target.due += 1
            target.renewed += renewed
            target.ended += ended
            if ended:
                target.reasons[reason] += 1
    if not figures:
        bucket(COMPANY, COMPANY, COMPANY)  # a month with nothing due still says so
    return sorted(figures.values(), key=lambda f: (SCOPES.index(f.scope), f.name))


def due_contracts(kintone, contracts: AppMapping, first: date, last: date):
    """Concluded individual contracts whose dispatch ends (派遣終了日, else 中途終了日) between first and last."""
    end, early = contracts.field("dispatch_end").code, contracts.field("ended_early_on").code
    within = lambda code: f'({code} >= "{first.isoformat()}" and {code} <= "{last.isoformat()}")'
    kind = contracts.settings("renewals").get("contract_kind", "個別契約")
    query = (f'{contracts.field("contract_kind").code} in ("{kind}")'
             f' and {contracts.field("status").code} in ("{contracts.status_name("concluded")}")'
             f" and ({within(end)} or {within(early)})")
    names = ("sales_rep", "client", "dispatch_end", "ended_early_on", "renewal_outcome", "end_reason")
    for record in fetch_all(_Context(kintone), contracts, query, ["$id", *contracts.codes(*names)]):
        values = contracts.read(record)
        ends_on = values.get("ended_early_on") or values.get("dispatch_end")
        if ends_on is not None and first <= ends_on <= last:
            yield values


@dataclass
class _Context:  # fetch_all needs only the kintone client
    kintone: object


# -- the KPI app ------------------------------------------------------------------------------

def kpi_values(figures: Figures) -> dict:
    return {"kpi_key": figures.kpi_key, "month": figures.month, "scope": figures.scope, "scope_key": figures.key,
            "scope_name": figures.name, "due": figures.due, "renewed": figures.renewed, "ended": figures.ended,
            "undecided": figures.undecided, "renewal_rate": figures.renewal_rate, "end_rate": figures.end_rate,
            "end_reasons": figures.reasons_text()}


def write_kpi(kintone, mappings: Mappings, month: str, figures: list[Figures]) -> dict[str, int]:
    """Upsert the month's figures into the KPI app by 集計キー; what was added, updated, left alone.

    A scope measured before but with nothing due now (e.g. a contract's 派遣終了日 moved) is set to zero.
    """
    if KPI_APP not in mappings:
        raise RetentionError(f"no mapping for the KPI app {KPI_APP!r} (mappings/default/kpi.toml)")
    kpi = mappings[KPI_APP]
    month_days(month)
    stored = {}
    query = f'{kpi.field("month").code} = "{month}"'
    for record in fetch_all(_Context(kintone), kpi, query, ["$id", *kpi.codes(*kpi.fields)]):
        values = kpi.read(record)
        stored[values.get("kpi_key")] = values
    wanted = {f.kpi_key: kpi_values(f) for f in figures}
    for key, old in stored.items():
        if key not in wanted:
            zero = Figures(month, old.get("scope") or "", old.get("scope_key") or "", old.get("scope_name") or "")
            wanted[key] = {**kpi_values(zero), "kpi_key": key}
    add = [kpi.write(v) for k, v in wanted.items() if k not in stored]
    update = [RecordUpdate(id=stored[k]["record_id"], record=kpi.write(v))
              for k, v in wanted.items() if k in stored and _changed(kpi, stored[k], v)]
    for start in range(0, len(add), BULK):
        kintone.add_records(kpi.id, add[start:start + BULK])
    for start in range(0, len(update), BULK):
        kintone.update_records(kpi.id, update[start:start + BULK])
    return {"added": len(add), "updated": len(update), "unchanged": len(wanted) - len(add) - len(update)}


def _changed(kpi: AppMapping, old: dict, new: dict) -> bool:
    """Whether the stored record differs from ``new`` (numbers compared as numbers: 95 = 95.0)."""
    for name, value in new.items():
        before = old.get(name)
        if kpi.field(name).type == "NUMBER":
            if (before is None) != (value is None) or (value is not None and Decimal(str(before)) != Decimal(str(value))):
                return True
        elif (before or "") != (value or ""):
            return True
    return False
