"""The period limits of 労働者派遣法 and their exemptions, judged without I/O.

Two limits (three years each, the years and the cooling-off gap are data in the mapping):
- 事業所単位 (法第40条の2第2項): a client's work site may receive dispatched workers for three
  years from the first day; the client can extend it after hearing its workers' representative
  (意見聴取, 同条第3項・第4項) and must notify us of the 抵触日 (法第26条第4項).
- 個人単位 (法第40条の3): the same worker in the same 組織単位 for at most three years.
A gap of more than three months between dispatches starts the count again.

A contract is exempt from both (法第40条の2第1項) only when the exemption is *proven*: the
record's 期間制限の例外 names it and the facts hold (the workers' 雇用形態 or age from G-Staff and
a contract limited to them, the project's end, the number of days, the leave period). The
mapping's ``[dispatch_law]`` section holds every rule with its article; ``judge`` turns the
record and the G-Staff facts into Japanese problems for the sales rep and the text the contract
prints about the exemption.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mappings.app import AppMapping, MappingError
from mappings.fields import is_blank
from mappings.japanese_dates import full_date
from mappings.normalize import name_key, nfkc

if TYPE_CHECKING:  # the facts come from G-Staff; this module only reads them
    from connectors.gstaff.interface import Assignment, StaffMember

Proof = Literal["indefinite", "age", "project", "limited_days", "leave_cover"]


class PeriodLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    years: int = Field(default=3, ge=1, le=10)
    cooling_off_months: int = Field(default=3, ge=0, le=12)
    site_article: str = "労働者派遣法第40条の2第2項"
    individual_article: str = "労働者派遣法第40条の3"


class ExemptionRule(BaseModel):
    """One 期間制限の例外: what proves it and what the contract prints about it."""

    model_config = ConfigDict(extra="forbid")
    proof: Proof
    article: str = Field(min_length=1)
    printed: str = Field(min_length=1)  # 例外の内容 on the contract; {field} placeholders
    min_age: int = Field(default=60, ge=1)  # proof "age"
    max_share: Decimal = Field(default=Decimal("0.5"), gt=0, le=1)  # proof "limited_days"
    max_days: int = Field(default=10, ge=1)  # proof "limited_days"


class FormerEmployeeRule(BaseModel):
    """法第40条の9: no dispatch to a former employer within a year of leaving it."""

    model_config = ConfigDict(extra="forbid")
    years: int = Field(default=1, ge=1)
    article: str = "労働者派遣法第40条の9"
    exempt_min_age: int = Field(default=60, ge=1)  # left at the 定年 aged 60 or over: allowed
    exempt_article: str = "同法施行規則第33条の10"


NOTICE_CONFLICT_DATE = "conflict_date"  # domain field of the notice's 抵触日 unless the mapping names another


class ConflictNoticeRule(BaseModel):
    """法第26条第4項 / 施行規則第24条の2: what the client's 抵触日通知 states, as the rep recorded it."""

    model_config = ConfigDict(extra="forbid")
    site: str  # domain field: the 事業所 the notice names
    conflict_date: str = NOTICE_CONFLICT_DATE  # domain field: the 抵触日 the notice states
    article: str = Field(min_length=1)


class DispatchLawSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limited_value: str = "限定する"  # 無期60歳以上限定 when the contract is limited to such workers
    indefinite_types: list[str] = Field(default_factory=lambda: ["indefinite"])
    not_exempt_text: str = "該当なし"
    exemption_item: str = ""  # GMO Sign merge field printing the exemption's name
    particulars_item: str = ""  # GMO Sign merge field printing its particulars
    period_limit: PeriodLimit = Field(default_factory=PeriodLimit)
    exemptions: dict[str, ExemptionRule] = Field(default_factory=dict)
    former_employee: FormerEmployeeRule = Field(default_factory=FormerEmployeeRule)
    conflict_notice: ConflictNoticeRule | None = None  # None: the notice's particulars are not judged

    @property
    def notice_conflict_date(self) -> str:
        """The domain field holding the 抵触日 of the client's 抵触日通知 (法第26条第4項)."""
        return self.conflict_notice.conflict_date if self.conflict_notice else NOTICE_CONFLICT_DATE

    @classmethod
    def of(cls, mapping: AppMapping) -> "DispatchLawSettings":
        try:
            settings = cls.model_validate(mapping.settings("dispatch_law"))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise MappingError(f"mapping {mapping.key!r} [dispatch_law]: {problems}") from None
        unknown = sorted({name for rule in settings.exemptions.values() for name in _placeholders(rule.printed)
                          if name not in mapping.fields})
        if unknown:
            raise MappingError(f"mapping {mapping.key!r} [dispatch_law] prints unknown fields {unknown}")
        notice = settings.conflict_notice
        unknown = [n for n in ((notice.site, notice.conflict_date) if notice else ()) if n not in mapping.fields]
        if unknown:
            raise MappingError(f"mapping {mapping.key!r} [dispatch_law.conflict_notice] names unknown fields {unknown}")
        offered = mapping.settings("contract_issuance").get("exemption_values") or []
        unproven = [value for value in offered if value not in settings.exemptions]
        if unproven:  # an exemption without a proof would lift the limits on a word
            raise MappingError(f"mapping {mapping.key!r} [dispatch_law]: no exemptions rule for {unproven}")
        return settings


def _placeholders(template: str) -> list[str]:
    return re.findall(r"\{(\w+)\}", template)


# -- dates -------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one: the day after 28 February
        return day.replace(year=day.year + years, month=3, day=1)


def add_months(day: date, months: int) -> date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def age_on(birth_date: date, day: date) -> int:
    """Full years on ``day`` (a 29 February birthday counts from 1 March in other years,
    as 年齢計算ニ関スル法律 has the age rise at the end of the day before)."""
    years = day.year - birth_date.year
    return years if add_years(birth_date, years) <= day else years - 1


def run_start(periods: list[tuple[date, date]], start: date, cooling_off_months: int) -> date:
    """First day of the unbroken run of dispatch containing ``start``: periods separated by
    a gap of more than ``cooling_off_months`` months do not add up."""
    run_first, run_last = None, None
    for first, last in sorted(periods):
        if run_last is not None and first > add_months(run_last + timedelta(days=1), cooling_off_months):
            if run_first <= start <= run_last:
                break
            run_first = None
        if run_first is None:
            run_first, run_last = first, last
        else:
            run_last = max(run_last, last)
    return run_first if run_first is not None else start


def conflict_date(periods: list[tuple[date, date]], start: date, limit: PeriodLimit) -> date:
    """抵触日: the first day after ``limit.years`` years of the run containing ``start``."""
    return add_years(run_start(periods, start, limit.cooling_off_months), limit.years)


def same_name(a: str | None, b: str | None) -> bool:
    return name_key(a) == name_key(b)


def staff_by_id(staff_id: str) -> str:
    """How a message names a worker by their G-Staff id: スタッフさん（スタッフID：S-1001）."""
    return f"スタッフさん（スタッフID：{staff_id}）"


def staff_ids(value: str | None) -> list[str]:
    """G-Staff staff ids in a text field, separated by 、 , or white space (each once)."""
    ids = [part for part in re.split(r"[、,\s]+", nfkc(value or "")) if part]
    return list(dict.fromkeys(ids))


def staff_names(value: str | None) -> list[str]:
    """The names in a 派遣スタッフ field listing several workers, separated by 、 , or a new line.

    Not by white space, which separates a family name from a given one ("山田 花子"). The names are
    kept as written (no NFKC), since they are printed back.
    """
    return [part.strip() for part in re.split(r"[、,，\n]+", value or "") if part.strip()]


# -- judging a contract ------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What G-Staff says about the contract's client and workers."""

    staff: "dict[str, StaffMember | None]" = field(default_factory=dict)  # None: not in G-Staff
    assignments: "list[Assignment]" = field(default_factory=list)  # the client's, every site
    site_conflict_date: date | None = None  # 抵触日 registered in G-Staff for the work site
    reference: str = ""  # this contract's reference (its own assignment is not counted twice)
    client_id: str = ""  # the client in G-Staff (for 法第40条の9)


@dataclass
class Verdict:
    problems: list[str] = field(default_factory=list)  # Japanese, one per rule broken
    exemption: str | None = None  # the proven exemption's name
    particulars: str = ""  # what the contract prints about it
    limits: dict[str, date] = field(default_factory=dict)  # "site" / staff id -> 抵触日 applied
    merge_fields: dict[str, str] = field(default_factory=dict)  # GMO Sign item -> text printed

    @property
    def personal_conflict_date(self) -> date | None:
        """The earliest 個人単位 抵触日 of the contract's workers (None: no worker, or exempt)."""
        return min((day for key, day in self.limits.items() if key != "site"), default=None)


def judge(rules: DispatchLawSettings, mapping: AppMapping, contract: dict, facts: Facts,
          text_of=str) -> Verdict:
    """Problems with the contract under the period limits and the exemption it claims."""
    verdict = Verdict()
    label = lambda name: f"「{mapping.field(name).display}」"
    start, end = contract.get("dispatch_start"), contract.get("dispatch_end")
    if not start or not end or end < start:
        return verdict  # reported as a missing or inverted 派遣期間 by the contract check
    claimed = contract.get("period_limit_exemption") or ""
    rule = rules.exemptions.get(claimed)
    limited = contract.get("indefinite_or_60_only") == rules.limited_value
    ids = staff_ids(contract.get("staff_ids"))

    verdict.problems += former_employee_problems(rules, {i: facts.staff.get(i) for i in ids}, facts.client_id,
                                                 start)
    unknown = [i for i in ids if facts.staff.get(i, ...) is None]
    if unknown:
        verdict.problems.append(f"{label('staff_ids')}の {'、'.join(unknown)} がGスタッフに見つかりません。"
                                "スタッフIDを確認してください。")
    if limited and (rule is None or rule.proof not in ("indefinite", "age")):
        verdict.problems += _limited_but_not_proven(rules, mapping, ids, facts, start, label)

    if rule is not None:
        proof_problems = _proof_problems(rules, rule, claimed, mapping, contract, ids, facts, limited, label)
        if not proof_problems:
            verdict.exemption = claimed
            verdict.particulars = rule.printed.format_map(_Printed(contract, text_of)) + f"（{rule.article}）"
            return _with_merge_fields(rules, verdict)
        verdict.problems += proof_problems
    verdict.problems += _limit_problems(rules, mapping, contract, ids, facts, verdict, label)
    return _with_merge_fields(rules, verdict)


def _with_merge_fields(rules: DispatchLawSettings, verdict: Verdict) -> Verdict:
    if rules.exemption_item:
        verdict.merge_fields[rules.exemption_item] = verdict.exemption or rules.not_exempt_text
    if rules.particulars_item:
        verdict.merge_fields[rules.particulars_item] = verdict.particulars
    return verdict


def former_employee_problems(rules: DispatchLawSettings, staff: dict, client_id: str, start: date) -> list[str]:
    """Workers who left ``client_id`` less than the rule's years before ``start`` (法第40条の9)."""
    rule = rules.former_employee
    out = []
    for staff_id, member in staff.items():
        for job in getattr(member, "former_employers", None) or []:
            if job.client_id != client_id or start >= add_years(job.left_on, rule.years):
                continue
            if job.mandatory_retirement and member.birth_date is not None \
                    and age_on(member.birth_date, job.left_on) >= rule.exempt_min_age:
                continue
            out.append(f"離職後1年以内の受入れ禁止（{rule.article}）：{staff_by_id(staff_id)}はこの派遣先を離職してから"
                       f"{rule.years}年を経過していません。派遣開始は{full_date(add_years(job.left_on, rule.years))}以降に"
                       f"してください（{rule.exempt_min_age}歳以上で定年により離職した方は例外：{rule.exempt_article}）。")
            break
    return out


class _Printed(dict):
    def __init__(self, contract: dict, text_of) -> None:
        super().__init__()
        self._contract, self._text_of = contract, text_of

    def __missing__(self, key: str) -> str:
        return self._text_of(self._contract.get(key))


def _proof_problems(rules: DispatchLawSettings, rule: ExemptionRule, claimed: str, mapping: AppMapping,
                    contract: dict, ids: list[str], facts: Facts, limited: bool, label) -> list[str]:
    """Why the claimed exemption does not hold (empty when it is proven)."""
    why = f"「期間制限の例外」の「{claimed}」（{rule.article}）は、"
    start, end = contract["dispatch_start"], contract["dispatch_end"]
    out: list[str] = []
    if rule.proof in ("indefinite", "age"):
        if not limited:
            out.append(why + f"契約で派遣労働者を限定した場合に限り認められます。{label('indefinite_or_60_only')}を"
                       f"「{rules.limited_value}」にしてください。")
        if not ids:
            out.append(why + f"派遣する方がGスタッフで確認できる場合に限り認められます。{label('staff_ids')}を入力してください。")
        for staff_id in ids:
            member = facts.staff.get(staff_id)
            if member is None:
                continue  # reported once as unknown
            if rule.proof == "indefinite" and member.employment_type not in rules.indefinite_types:
                out.append(why + f"{staff_by_id(staff_id)}には当たりません（Gスタッフの雇用形態が無期雇用ではありません）。"
                           "雇用形態を確認するか、例外の選択をやめてください。")
            if rule.proof == "age":
                if member.birth_date is None:
                    out.append(why + f"{staff_by_id(staff_id)}の生年月日がGスタッフにないため確認できません。"
                               "Gスタッフに生年月日を登録してください。")
                elif age_on(member.birth_date, start) < rule.min_age:
                    out.append(why + f"{staff_by_id(staff_id)}には当たりません（{label('dispatch_start')}"
                               f"（{full_date(start)}）の時点で{rule.min_age}歳未満です）。"
                               f"{rule.min_age}歳に達した後の日から始まる契約にするか、例外の選択をやめてください。")
    elif rule.proof == "project":
        project_end, what = contract.get("project_end"), contract.get("project_description")
        if is_blank(what) or not project_end:
            out.append(why + f"プロジェクトの内容と終了予定日が決まっている場合に限り認められます。"
                       f"{label('project_description')}と{label('project_end')}を入力してください。")
        elif end > project_end:
            out.append(why + f"{label('dispatch_end')}（{full_date(end)}）がプロジェクトの終了予定日"
                       f"（{full_date(project_end)}）より後のため認められません。派遣期間をプロジェクトの期間内にしてください。")
    elif rule.proof == "limited_days":
        days, ordinary = contract.get("monthly_work_days"), contract.get("client_monthly_days")
        if days is None or not ordinary:
            out.append(why + f"{label('monthly_work_days')}と{label('client_monthly_days')}を入力してください。")
        else:
            ceiling = min(Decimal(ordinary) * rule.max_share, Decimal(rule.max_days))
            if Decimal(days) > ceiling:
                out.append(why + f"1か月の就業日数が派遣先の通常の労働者の所定労働日数（{_n(ordinary)}日）の"
                           f"{_share(rule.max_share)}以下、かつ{rule.max_days}日以下の場合に限り認められます"
                           f"（この契約は{_n(days)}日）。就業日数を見直すか、例外の選択をやめてください。")
    elif rule.proof == "leave_cover":
        kind, leave_start, leave_end = (contract.get("leave_kind"), contract.get("leave_start"),
                                        contract.get("leave_end"))
        if is_blank(kind) or not leave_start or not leave_end:
            out.append(why + f"{label('leave_kind')}、{label('leave_start')}、{label('leave_end')}を入力してください。")
        elif start < leave_start or end > leave_end:
            out.append(why + f"派遣期間（{full_date(start)}〜{full_date(end)}）が休業期間（{full_date(leave_start)}〜"
                       f"{full_date(leave_end)}）の中にないため認められません。派遣期間を休業期間の中にしてください。")
    return out


def _limited_but_not_proven(rules: DispatchLawSettings, mapping: AppMapping, ids: list[str], facts: Facts,
                            start: date, label) -> list[str]:
    """A contract limited to 無期雇用 / 60歳以上 workers may only send such workers (施行規則第22条)."""
    ages = [r.min_age for r in rules.exemptions.values() if r.proof == "age"] or [60]
    out = []
    for staff_id in ids:
        member = facts.staff.get(staff_id)
        if member is None:
            continue
        old_enough = member.birth_date is not None and age_on(member.birth_date, start) >= min(ages)
        if member.employment_type not in rules.indefinite_types and not old_enough:
            out.append(f"{label('indefinite_or_60_only')}が「{rules.limited_value}」ですが、{staff_by_id(staff_id)}は"
                       "Gスタッフで無期雇用でも60歳以上でもありません。派遣する方か契約の内容を確認してください。")
    return out


def _limit_problems(rules: DispatchLawSettings, mapping: AppMapping, contract: dict, ids: list[str], facts: Facts,
                    verdict: Verdict, label) -> list[str]:
    """Both three-year limits; each names its 抵触日, where it comes from and what to do."""
    limit = rules.period_limit
    start, end = contract["dispatch_start"], contract["dispatch_end"]
    site = contract.get("work_site") or ""
    own = (start, end)
    counted = [a for a in facts.assignments if a.period_limited and not (facts.reference and
                                                                         a.reference == facts.reference)]
    out = []

    notified = contract.get(rules.notice_conflict_date)
    if facts.site_conflict_date is not None:
        site_date, source = facts.site_conflict_date, "Gスタッフに登録された事業所の抵触日"
    else:
        periods = [(a.start_on, a.end_on) for a in counted if same_name(a.work_site, site)] + [own]
        site_date, source = conflict_date(periods, start, limit), "Gスタッフの派遣実績から数えた事業所の抵触日"
    if rules.conflict_notice is not None:
        out += _notice_problems(rules.conflict_notice, contract, site_date, facts.site_conflict_date is not None,
                                label)
    if notified and notified < site_date:
        site_date, source = notified, "派遣先の抵触日通知の抵触日"
    verdict.limits["site"] = site_date
    if end >= site_date:
        out.append(f"事業所単位の期間制限（{limit.site_article}）：{label('dispatch_end')}（{full_date(end)}）が"
                   f"派遣先事業所「{site}」の抵触日（{full_date(site_date)}、{source}）以降です。"
                   f"派遣期間を{full_date(site_date - timedelta(days=1))}までにしてください。派遣先が意見聴取で"
                   "派遣可能期間を延長した場合は、延長後の抵触日通知を受け取り、抵触日をGスタッフとこの契約に入力してください。")

    unit = contract.get("organization_unit") or ""
    for staff_id in ids:
        periods = [(a.start_on, a.end_on) for a in counted if a.staff_id == staff_id
                   and same_name(a.work_site, site) and same_name(a.organization_unit, unit)] + [own]
        personal = conflict_date(periods, start, limit)
        verdict.limits[staff_id] = personal
        if end >= personal:
            first = run_start(periods, start, limit.cooling_off_months)
            out.append(f"個人単位の期間制限（{limit.individual_article}）：{staff_by_id(staff_id)}は"
                       f"「{site}」の組織単位「{unit}」で{full_date(first)}から派遣されており、抵触日は"
                       f"{full_date(personal)}です。派遣期間を{full_date(personal - timedelta(days=1))}までにするか、"
                       "別の組織単位での派遣か、別のスタッフさんの派遣を検討してください。")
    return out


def _notice_problems(rule: ConflictNoticeRule, contract: dict, site_date: date, registered: bool,
                     label) -> list[str]:
    """The 抵触日通知 must be this contract's: it names the contract's 派遣先事業所, and its 抵触日 is the
    site's as G-Staff registered it (exactly), or — with none registered — not later than our own
    assignment history allows (the client also counts other agencies' workers, so earlier is possible)."""
    site, named, notified = contract.get("work_site") or "", contract.get(rule.site), contract.get(rule.conflict_date)
    why = f"抵触日通知（{rule.article}）："
    again = "派遣先に確認し、正しい内容の抵触日通知を受け取り直して、添付・受領日・記載内容を入力し直してください。"
    out = []
    if is_blank(named):
        out.append(why + f"抵触日通知に記載された事業所名を{label(rule.site)}に入力してください。")
    elif not same_name(named, site):
        out.append(why + f"{label(rule.site)}「{named}」が、この契約の{label('work_site')}「{site}」と違います。"
                   "抵触日通知は派遣先の事業所ごとに受け取るものです。" + again)
    if notified is None:
        return out  # reported as a missing item by the contract check
    if registered and notified != site_date:
        out.append(why + f"抵触日通知に記載された{label(rule.conflict_date)}（{full_date(notified)}）が、Gスタッフに登録された"
                   f"派遣先事業所「{site}」の抵触日（{full_date(site_date)}）と違います。" + again
                   + "意見聴取で延長された場合は、延長後の抵触日をGスタッフにも登録してください。")
    elif not registered and notified > site_date:
        out.append(why + f"抵触日通知に記載された{label(rule.conflict_date)}（{full_date(notified)}）が、当社の派遣実績から"
                   f"数えた派遣先事業所「{site}」の抵触日（{full_date(site_date)}）より後です。" + again
                   + "意見聴取で延長された場合は、延長後の抵触日をGスタッフに登録してください。")
    return out


def _n(value) -> str:
    number = Decimal(value)
    return format(number.normalize(), "f") if number == number.to_integral() else format(number, "f")


def _share(share: Decimal) -> str:
    return "半分" if share == Decimal("0.5") else f"{_n(share * 100)}%"
