"""Credit rules that need no I/O (seed A-4): the 取引可否基準 answers, the 労務リスク thresholds and
the validity of a credit approval, read from the Workflow mapping's ``[credit_check]`` section.

``screen`` judges a 06_1 application's answers: each 取引可否 item has the answers that are
clear and those that end the application (否認); any other answer, a 労務リスク over its
threshold, or a low 信用調査機関の評価 needs the director (取締役). Every reason is a Japanese
sentence naming the item by its label, for the applicant, the 上長 and the director.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mappings.app import AppMapping, MappingError
from mappings.fields import is_blank
from mappings.japanese_dates import full_date


class Criterion(BaseModel):
    """One 取引可否 item: its clear answers, and the answers that end the application."""

    model_config = ConfigDict(extra="forbid")
    item: str
    clear: list[str] = Field(min_length=1)
    reject: list[str] = Field(default_factory=list)


class LabourRisk(BaseModel):
    """労務リスク確認: any of these needs the director, whatever the rating."""

    model_config = ConfigDict(extra="forbid")
    unpaid_item: str = "unpaid_wages_recorded"
    unpaid_recorded: list[str] = Field(default_factory=lambda: ["あり"])
    trouble_item: str = "last_labour_trouble_on"
    trouble_within_years: int = Field(default=3, ge=1, le=50)
    turnover_item: str = "turnover_rate"
    turnover_above_percent: Decimal = Field(default=Decimal(15), ge=0, le=100)


class Validity(BaseModel):
    """How long a credit approval holds, and when its re-check 06_1 is opened."""

    model_config = ConfigDict(extra="forbid")
    months: int = Field(default=12, ge=1, le=120)
    recheck_lead_days: int = Field(default=30, ge=1, le=365)


class CreditRules(BaseModel):
    model_config = ConfigDict(extra="ignore")  # the section also holds the flow's other settings
    director_required_below: Decimal
    criteria: list[Criterion] = Field(default_factory=list)
    labour_risk: LabourRisk = Field(default_factory=LabourRisk)
    validity: Validity = Field(default_factory=Validity)

    @classmethod
    def of(cls, wf: AppMapping, section: str = "credit_check") -> "CreditRules":
        try:
            rules = cls.model_validate(wf.settings(section))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise MappingError(f"mapping {wf.key!r} [{section}]: {problems}") from None
        names = [c.item for c in rules.criteria]
        names += [rules.labour_risk.unpaid_item, rules.labour_risk.trouble_item, rules.labour_risk.turnover_item]
        unknown = sorted({n for n in names if n not in wf.fields})
        if unknown:
            raise MappingError(f"mapping {wf.key!r} [{section}] names unknown fields {unknown}")
        return rules

    def criterion(self, item: str) -> Criterion | None:
        return next((c for c in self.criteria if c.item == item), None)


@dataclass
class Screening:
    """What the answers of one application mean: reasons to reject, reasons for the director."""

    reject: list[str] = field(default_factory=list)
    director: list[str] = field(default_factory=list)

    @property
    def clear(self) -> bool:
        return not self.reject and not self.director


def add_months(day: date, months: int) -> date:
    years, month0 = divmod(day.month - 1 + months, 12)
    year, month = day.year + years, month0 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _answer(value: Any) -> str:
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    return "" if value is None else str(value)


def screen(wf: AppMapping, rules: CreditRules, application: dict, today: date) -> Screening:
    """Judge the 取引可否 answers, the 労務リスク and the rating of a 06_1 application."""
    result = Screening()
    for criterion in rules.criteria:
        label = wf.field(criterion.item).display
        answer = _answer(application.get(criterion.item))
        if answer in criterion.clear:
            continue
        if answer in criterion.reject:
            result.reject.append(f"「{label}」が「{answer}」のため、この顧客とは取引できません。")
        elif not answer:
            result.director.append(f"「{label}」が未回答のため、取締役の確認が必要です。")
        else:
            result.director.append(f"「{label}」が「{answer}」のため、取締役の確認が必要です。")
    result.director += labour_risks(wf, rules.labour_risk, application, today)
    rating = application.get("credit_rating")
    label = wf.field("credit_rating").display
    threshold = rules.director_required_below
    if rating is None:
        result.director.append(f"「{label}」が未入力のため、取締役の承認が必要です。")
    elif Decimal(str(rating)) < threshold:
        result.director.append(f"「{label}」（{rating}）が基準（{threshold}）未満のため、取締役の承認が必要です。")
    return result


def labour_risks(wf: AppMapping, risk: LabourRisk, application: dict, today: date) -> list[str]:
    """労務リスク over its threshold (seed A-4 労務リスク確認), one sentence each."""
    found = []
    unpaid = _answer(application.get(risk.unpaid_item))
    if unpaid in risk.unpaid_recorded:
        found.append(f"「{wf.field(risk.unpaid_item).display}」が「{unpaid}」のため、取締役の確認が必要です。")
    trouble_on = application.get(risk.trouble_item)
    if isinstance(trouble_on, date) and trouble_on > add_months(today, -12 * risk.trouble_within_years):
        found.append(f"「{wf.field(risk.trouble_item).display}」（{full_date(trouble_on)}）が"
                     f"直近{risk.trouble_within_years}年以内のため、取締役の確認が必要です。")
    turnover = application.get(risk.turnover_item)
    if not is_blank(turnover) and Decimal(str(turnover)) > risk.turnover_above_percent:
        found.append(f"「{wf.field(risk.turnover_item).display}」（{turnover}%）が基準（{risk.turnover_above_percent}%）を"
                     "超えるため、取締役の確認が必要です。")
    return found


# -- validity of an approval --------------------------------------------------------------------

def valid_until(validity: Validity, approved_on: date) -> date:
    """The last day an approval given on ``approved_on`` holds (12 months: the day before its anniversary)."""
    return add_months(approved_on, validity.months) - timedelta(days=1)


def recheck_opens_on(validity: Validity, last_valid_day: date) -> date:
    """The day the re-check 06_1 of an approval valid through ``last_valid_day`` is opened."""
    return last_valid_day - timedelta(days=validity.recheck_lead_days)


def has_lapsed(last_valid_day: date | None, today: date) -> bool:
    """An approval without a 与信有効期限 was given before validity was tracked: it has not lapsed."""
    return last_valid_day is not None and today > last_valid_day
