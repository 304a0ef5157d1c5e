"""Is the order something we may dispatch for at all? (seed A-1, A-3; issue 11)

Checked when an order is registered, before any visit or credit work (order_registration runs
it first): work prohibited for dispatch (労働者派遣法第4条第1項: 港湾運送, 建設, 警備, 医療関係) and
日雇派遣 (a period of 30 days or less, 法第35条の4), each with its exceptions, all as data in the
Orders mapping (``[order_registration.prohibited_work]``, ``[order_registration.daily_dispatch]``).
A flag is one comment mentioning the sales rep and the 上長; the order stays 未処理 and no credit
application is opened until the order is changed.

A 業務区分 naming prohibited work is a flag whatever else the order says (unless the category's
exception applies, e.g. 医療関係 for 紹介予定派遣). Words of prohibited work in 業務内容 are a
question for the 上長: they answer it in 禁止業務の確認 and the flag goes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mappings import AppMapping, MappingError
from mappings.japanese_dates import full_date
from mappings.normalize import nfkc

# Every order field the check reads (a bulk read of held orders asks kintone for these too).
FIELDS = ("work_category", "work_exception", "job_description", "prohibited_work_review", "start_period",
          "dispatch_end", "confirm_at_visit", "supervisor", "title")


class ProhibitedWork(BaseModel):
    model_config = ConfigDict(extra="forbid")
    article: str = Field(min_length=1)
    categories: list[str] = Field(default_factory=list)  # 業務区分 values that are this work
    words: list[str] = Field(default_factory=list)  # words in 業務内容 that suggest it
    exceptions: list[str] = Field(default_factory=list)  # 例外 values that allow it
    note: str = ""


class DailyDispatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_days: int = Field(default=30, ge=1)
    article: str = Field(min_length=1)
    exempt_categories: list[str] = Field(default_factory=list)  # 施行令第4条第1項の業務
    exempt_workers: list[str] = Field(default_factory=list)  # 施行令第4条第2項の者 (例外 values)


class IntakeRules(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reviewed_value: str = "該当しない（上長確認済）"  # 禁止業務の確認 once the 上長 has looked
    prohibited_work: dict[str, ProhibitedWork] = Field(default_factory=dict)
    daily_dispatch: DailyDispatch | None = None

    @classmethod
    def of(cls, orders: AppMapping) -> "IntakeRules":
        settings = orders.settings("order_registration")
        data = {k: settings[k] for k in ("reviewed_value", "prohibited_work", "daily_dispatch") if k in settings}
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise MappingError(f"mapping {orders.key!r} [order_registration]: {problems}") from None


@dataclass
class IntakeFlags:
    lines: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)  # what makes two flags the same complaint

    def __bool__(self) -> bool:
        return bool(self.lines)


def intake_flags(orders: AppMapping, order: dict) -> IntakeFlags:
    """Everything that makes the order one we may not take as it stands."""
    rules = IntakeRules.of(orders)
    flags = IntakeFlags()
    label = lambda name: f"「{orders.field(name).display}」"
    category = order.get("work_category") or ""
    exception = order.get("work_exception") or ""
    text = nfkc(order.get("job_description") or "")
    reviewed = order.get("prohibited_work_review") == rules.reviewed_value
    for name, work in rules.prohibited_work.items():
        if exception and exception in work.exceptions:
            continue
        note = f"{work.note}" if work.note else ""
        if category in work.categories:
            flags.lines.append(f"{label('work_category')}が「{category}」です。{name}の業務は労働者派遣できません"
                               f"（{work.article}）。{note}このオーダーは受けられないため、上長と対応を相談してください。")
            flags.keys.append(f"category:{name}")
        elif not reviewed and (hits := [w for w in work.words if nfkc(w) in text]):
            flags.lines.append(f"{label('job_description')}に「{'」「'.join(hits)}」とあります。{name}の業務に当たる場合は"
                               f"労働者派遣できません（{work.article}）。{note}上長が内容を確認し、当たらない場合は"
                               f"{label('prohibited_work_review')}を「{rules.reviewed_value}」にしてください。")
            flags.keys.append(f"words:{name}:{','.join(hits)}")
    daily = rules.daily_dispatch
    start, end = order.get("start_period"), order.get("dispatch_end")
    if daily and start and end and end >= start and (end - start).days + 1 <= daily.max_days \
            and category not in daily.exempt_categories and exception not in daily.exempt_workers:
        days = (end - start).days + 1
        flags.lines.append(f"派遣期間が{days}日間（{full_date(start)}〜{full_date(end)}）です。{daily.max_days}日以内の雇用で"
                           f"派遣する日雇派遣は原則禁止です（{daily.article}）。派遣期間を{daily.max_days + 1}日以上にするか、"
                           f"例外（政令で定める業務、または{'・'.join(daily.exempt_workers)}の方に限る派遣）に当たる場合は"
                           f"{label('work_category')}または{label('work_exception')}を選んでください。")
        flags.keys.append(f"daily:{days}")
    return flags


def confirmed_at_visit(orders: AppMapping, order: dict) -> set[str]:
    """Hearing items (domain names) the rep marked 「訪問時確認」 that the mapping lets wait."""
    if "confirm_at_visit" not in orders.fields:
        return set()
    ticked = set(order.get("confirm_at_visit") or [])
    allowed = orders.settings("order_registration").get("visit_confirmable", [])
    return {name for name in allowed if orders.field(name).display in ticked}


def flag_text(orders: AppMapping, order: dict, flags: IntakeFlags) -> str:
    title = order.get("title") or f"レコード番号 {order['record_id']}"
    return (f"オーダー「{title}」は、労働者派遣法上このままでは受けられない可能性があるため、"
            "訪問・与信の手続きに進めていません。\n\n【派遣法の確認事項】\n"
            + "\n".join(f"・{line}" for line in flags.lines)
            + "\n\n内容を直してレコードを保存すると、自動で再チェックします。")
