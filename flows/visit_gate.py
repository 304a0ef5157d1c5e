"""Has the client been visited, and was the visit complete? (seed A-3 「必ず訪問すること」, A-2, A-6)

An order is accepted (and its client's 06_1 opened) only after a completed visit to the client,
unless the Visits mapping turns that off (``[visit_check] orders_need_visit = false``). A visit
is complete when its 訪問日時 has passed, its 訪問記録 is written, every pre-visit checklist item
(安全衛生体制, 教育実施, 作業環境, 雇用管理体制, 個人情報取り扱い) has an answer, and 派遣の仕組みの説明 is
説明済. The gate judges the answers: 未確認 is no answer, and an item answered 問題あり stops the
client's orders until the 上長 decides (a later visit with another answer).

kintone calls: one query for the client's latest visits (none when the gate is off or no
Visits app is mapped).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flows.business_calendar import TOKYO
from flows.context import FlowContext
from mappings import AppMapping, MappingError
from mappings.fields import is_blank
from mappings.japanese_dates import full_date

VISITS_LOOKED_AT = 20  # the client's newest visits considered


class VisitCheck(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    checklist: list[str]
    answered: list[str]
    blocking: list[str] = Field(default_factory=list)
    explained: str
    orders_need_visit: bool = True
    summary_chars: int = Field(default=400, ge=50, le=4000)

    @classmethod
    def of(cls, visits: AppMapping) -> "VisitCheck":
        try:
            check = cls(**visits.settings("visit_check"))
        except (ValidationError, TypeError) as exc:
            raise MappingError(f"{visits.key} [visit_check]: {exc}") from None
        for name in check.checklist:
            visits.field(name)  # a MappingError names an unknown item
        return check


@dataclass(frozen=True)
class VisitProblem:
    kind: str  # no_visit, incomplete, blocked
    text: str  # for the rep, in Japanese


def gaps(visits: AppMapping, check: VisitCheck, visit: dict, now) -> list[str]:
    """What the visit still lacks, by Japanese label (empty: complete)."""
    out = []
    if visit.get("visited_at") is None or visit["visited_at"] > now:
        out.append(visits.field("visited_at").display)
    if is_blank(visit.get("report")):
        out.append(visits.field("report").display)
    out += [visits.field(n).display for n in check.checklist if visit.get(n) not in check.answered]
    if visit.get("dispatch_explained") != check.explained:
        out.append(visits.field("dispatch_explained").display)
    return out


def blocking_items(visits: AppMapping, check: VisitCheck, visit: dict) -> list[str]:
    return [f"{visits.field(n).display}：{visit.get(n)}" for n in check.checklist if visit.get(n) in check.blocking]


def field_names(visits: AppMapping, check: VisitCheck) -> list[str]:
    return ["visited_at", "report", "dispatch_explained", *check.checklist]


def _gate(ctx: FlowContext) -> tuple[AppMapping, VisitCheck] | None:
    if "visits" not in ctx.mappings:
        return None
    visits = ctx.mappings["visits"]
    check = VisitCheck.of(visits)
    return (visits, check) if check.orders_need_visit else None


def problem(ctx: FlowContext, client_record_id, client_name: str) -> VisitProblem | None:
    """None when orders of this client may go on; else why not, for the rep (one query)."""
    gate = _gate(ctx)
    if gate is None or client_record_id is None:
        return None
    visits, check = gate
    query = (f"{visits.field('client_record_id').code} = {int(client_record_id)}"
             f" order by {visits.field('visited_at').code} desc")
    rows = ctx.kintone.get_records(visits.id, query, fields=["$id", *visits.codes(*field_names(visits, check))],
                                   limit=VISITS_LOOKED_AT)
    return judge(visits, check, [visits.read(r) for r in rows], ctx.now(), client_name)


def problems(ctx: FlowContext, client_names: dict[str, str]) -> dict[str, VisitProblem]:
    """``problem`` for many clients (a page of orders): one query per 500 of their visits."""
    gate = _gate(ctx)
    if gate is None or not client_names:
        return {}
    visits, check = gate
    code = visits.field("client_record_id").code
    wanted = ", ".join(str(int(c)) for c in sorted(client_names, key=int))
    fields = ["$id", code, *visits.codes(*field_names(visits, check))]
    found: dict[str, list[dict]] = {c: [] for c in client_names}
    last = 0
    while True:
        rows = ctx.kintone.get_records(visits.id, f"{code} in ({wanted}) and $id > {last} order by $id asc",
                                       fields=fields, limit=500)
        for row in rows:
            visit = visits.read(row)
            if visit.get("client_record_id") is not None:
                found.setdefault(str(int(visit["client_record_id"])), []).append(visit)
        if len(rows) < 500:
            break
        last = int(rows[-1]["$id"]["value"])
    now, out = ctx.now(), {}
    for client, rows_of in found.items():
        newest_first = sorted(rows_of, key=lambda v: v.get("visited_at") or now, reverse=True)
        said = judge(visits, check, newest_first, now, client_names.get(client, ""))
        if said:
            out[client] = said
    return out


def judge(visits: AppMapping, check: VisitCheck, found: list[dict], now, client_name: str) -> VisitProblem | None:
    """The verdict on a client's visits, newest first."""
    complete = [v for v in found if not gaps(visits, check, v, now)]
    name = client_name or "この顧客"
    app = visits.app.label or "営業訪問"
    if complete:
        latest = complete[0]
        blocked = blocking_items(visits, check, latest)
        if not blocked:
            return None
        return VisitProblem("blocked", f"顧客「{name}」の直近の訪問（{_day(latest)}）で、次の項目が「問題あり」と"
                            f"記録されています：{'、'.join(blocked)}。受付してよいか上長に判断を仰ぎ、対応後に"
                            f"{app}の記録を更新してください。")
    if not found:
        return VisitProblem("no_visit", f"顧客「{name}」への訪問記録がありません。オーダーの受付前に必ず訪問し、"
                            f"{app}アプリに訪問記録と訪問前チェック項目を入力してください。")
    missing = gaps(visits, check, found[0], now)
    return VisitProblem("incomplete", f"顧客「{name}」の訪問記録（{_day(found[0])}）に、次の項目が入力されていません："
                        f"{'、'.join(missing)}。{app}の記録を完成させてください。")


def _day(visit: dict) -> str:
    moment = visit.get("visited_at")
    return full_date(moment.astimezone(TOKYO).date()) if moment else "日時未入力"
