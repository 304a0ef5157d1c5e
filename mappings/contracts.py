"""Contract rules that need no I/O: the Contracts mapping's flow settings, what a contract
must hold before it may be sent (seed A-5, 法第26条), merge-field text, and the 保管期限.

The settings live in the mapping file (``[contract_issuance]``, ``[signature_status]``) and are
checked here against the mapping's fields, so a typo fails the job with a clear reason instead
of silently skipping a legal check.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mappings.app import AppMapping, MappingError
from mappings.contract_content import (
    ContactRules,
    DatedDocument,
    contact_merge_fields,
    contact_problems,
    document_problems,
)
from mappings.contract_content import field_names as content_field_names
from mappings.fields import User, is_blank
from mappings.japanese_dates import full_date

_EMAIL_SHAPE = ("@", ".")


class ConditionalItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: str
    when: str
    equals: str


class KindSettings(BaseModel):
    """One 契約種別: its GMO Sign template and what must be filled in before sending."""

    model_config = ConfigDict(extra="forbid")
    template_id: str = Field(min_length=1)
    envelope_name: str = Field(min_length=1)
    check_dispatch_period: bool = False
    required_items: list[str] = Field(default_factory=list)
    conditional_items: list[ConditionalItem] = Field(default_factory=list)
    required_documents: list[str] = Field(default_factory=list)
    # Dated attachments required again for every contract (mappings/contract_content.py).
    dated_documents: list[DatedDocument] = Field(default_factory=list)
    # Structured contacts: one row per role in a table (mappings/contract_content.py).
    contacts: ContactRules | None = None
    inset_items: dict[str, str] = Field(default_factory=dict)  # GMO Sign item name -> domain field
    # Seed A-4: the 基本契約 is issued only after the trade-start application (06_2) was approved,
    # i.e. the client's 取引状態 is the Clients mapping's [trade] ready value.
    requires_trade_ready: bool = False


class IssuanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reference_prefix: str = Field(default="kintone", pattern=r"^[A-Za-z0-9_-]{1,20}$")
    reference_item: str = ""  # template merge field that prints our reference (管理番号), if any
    sender_name: str = ""
    signing_deadline_days: int = Field(default=30, ge=1, le=30)
    claim_stale_after_seconds: int = Field(default=900, ge=60)
    claim_ttl_days: int = Field(default=400, ge=30)
    exemption_field: str | None = None
    exemption_values: list[str] = Field(default_factory=list)
    exemption_waives: list[str] = Field(default_factory=lambda: ["conflict_date"])
    kinds: dict[str, KindSettings]

    @classmethod
    def of(cls, mapping: AppMapping) -> "IssuanceSettings":
        settings = _validated(cls, mapping, "contract_issuance")
        names = [settings.exemption_field] if settings.exemption_field else []
        names += settings.exemption_waives
        for kind in settings.kinds.values():
            names += kind.required_items + kind.required_documents + list(kind.inset_items.values())
            names += [n for rule in kind.conditional_items for n in (rule.item, rule.when)]
            names += content_field_names(kind.contacts, kind.dated_documents)
        _check_fields(mapping, "contract_issuance", names)
        return settings

    def reference(self, mapping: AppMapping, record_id: str) -> str:
        """Our idempotency reference for one contract record (GMO Sign's document code)."""
        return f"{self.reference_prefix}-{mapping.key}-{record_id}"


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: Literal["later", "dispatch_ledger", "tax"] = "later"
    dispatch_ledger_years: int = Field(default=3, ge=1, le=30)
    tax_years: int = Field(default=7, ge=1, le=30)
    fiscal_year_end: str = Field(default="03-31", pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$")
    filing_months_after_year_end: int = Field(default=2, ge=0, le=12)


class StatusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    callbacks: bool = False
    transitions: dict[str, str]  # envelope state -> action key
    open_statuses: list[str]
    final_statuses: list[str]
    state_labels: dict[str, str] = Field(default_factory=dict)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    @field_validator("transitions")
    @classmethod
    def _completion_is_mapped(cls, value: dict[str, str]) -> dict[str, str]:
        if "completed" not in value:
            raise ValueError("must name the action for 'completed'")
        return value

    @classmethod
    def of(cls, mapping: AppMapping) -> "StatusSettings":
        settings = _validated(cls, mapping, "signature_status")
        for action in settings.transitions.values():
            mapping.action(action)
        for status in settings.open_statuses + settings.final_statuses:
            mapping.status_name(status)
        return settings

    def label(self, state: str) -> str:
        return self.state_labels.get(state, state)


def _validated(model: type[BaseModel], mapping: AppMapping, section: str):
    try:
        return model.model_validate(mapping.settings(section))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise MappingError(f"mapping {mapping.key!r} [{section}]: {problems}") from None


def _check_fields(mapping: AppMapping, section: str, names: list[str]) -> None:
    unknown = sorted({n for n in names if n not in mapping.fields})
    if unknown:
        raise MappingError(f"mapping {mapping.key!r} [{section}] names unknown fields {unknown}")


# -- what must hold before a contract is sent --------------------------------------------------


@dataclass
class ContractProblems:
    """Everything that keeps a contract from being sent, as Japanese text for the sales rep."""

    missing: list[str] = field(default_factory=list)  # labels of empty items
    documents: list[str] = field(default_factory=list)  # documents not received
    other: list[str] = field(default_factory=list)  # wrong values (period, e-mail, kind)
    law: list[str] = field(default_factory=list)  # period limits and exemptions (mappings/dispatch_law.py)

    def __bool__(self) -> bool:
        return bool(self.missing or self.documents or self.other or self.law)


def is_exempt(settings: IssuanceSettings, contract: dict) -> bool:
    """True when the record claims an exemption from the period limits (無期雇用, 60歳以上, …)."""
    if not settings.exemption_field:
        return False
    return contract.get(settings.exemption_field) in settings.exemption_values


def contract_problems(mapping: AppMapping, settings: IssuanceSettings, contract: dict) -> ContractProblems:
    """Check a contract against its kind's required items, documents and the 抵触日."""
    problems = ContractProblems()
    kind = settings.kinds.get(contract.get("contract_kind") or "")
    if kind is None:
        label = mapping.field("contract_kind").display
        if is_blank(contract.get("contract_kind")):
            problems.missing.append(label)
        else:
            problems.other.append(f"{label}「{contract['contract_kind']}」に対応するGMOサインのテンプレートが"
                                  "設定されていません。システム運用担当者に連絡してください。")
        return problems

    waived = set(settings.exemption_waives) if is_exempt(settings, contract) else set()
    names = [n for n in kind.required_items if n not in waived]
    names += [r.item for r in kind.conditional_items if contract.get(r.when) == r.equals]
    empty = [n for n in names if is_blank(contract.get(n))]
    problems.missing = [mapping.field(n).display for n in empty]
    for name in kind.required_documents:
        if name not in waived and is_blank(contract.get(name)):
            problems.documents.append(mapping.field(name).display)
    missing, stale = document_problems(kind.dated_documents, lambda n: mapping.field(n).display, contract, waived)
    problems.documents += missing
    problems.other += stale
    if kind.contacts is not None:
        problems.other += contact_problems(kind.contacts, lambda n: mapping.field(n).display, contract,
                                           reported=set(empty))

    for name in ("signer_email", "sales_rep_email"):
        value = contract.get(name)
        if name in mapping.fields and not is_blank(value) and not all(ch in value for ch in _EMAIL_SHAPE):
            problems.other.append(f"「{mapping.field(name).display}」の形式が正しくありません。")
    if kind.check_dispatch_period:
        problems.other += _period_problems(mapping, contract)
    return problems


def _period_problems(mapping: AppMapping, contract: dict) -> list[str]:
    """The 派遣期間 itself; the 抵触日 and the exemptions are judged in mappings/dispatch_law.py."""
    start, end = contract.get("dispatch_start"), contract.get("dispatch_end")
    label = mapping.field
    if start and end and end < start:
        return [f"「{label('dispatch_end').display}」（{full_date(end)}）が「{label('dispatch_start').display}」"
                f"（{full_date(start)}）より前になっています。"]
    return []


# -- merge fields ------------------------------------------------------------------------------


def document_date(value: date) -> str:
    """A date as a contract document prints it (``2026年12月1日``, no weekday); comments use
    mappings.japanese_dates.full_date."""
    return f"{value.year}年{value.month}月{value.day}日"


def merge_text(value: Any) -> str:
    """A record value as the text a contract shows (dates in Japanese, users by name)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return document_date(value.date())
    if isinstance(value, date):
        return document_date(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    if isinstance(value, User):
        return value.name or value.code
    if isinstance(value, (list, tuple)):
        return "、".join(merge_text(v) for v in value)
    return str(value)


def merge_fields(kind: KindSettings, contract: dict) -> dict[str, str]:
    fields = {item: merge_text(contract.get(name)) for item, name in kind.inset_items.items()}
    if kind.contacts is not None:
        fields |= contact_merge_fields(kind.contacts, contract)
    return fields


# -- 保管期限 (retention) ------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, day=28)


def _add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def tax_retention_until(rule: RetentionSettings, concluded_on: date) -> date:
    """Last day of the tax retention: 7 years counted from the day after the filing deadline
    (fiscal year end + N months) of the fiscal year the contract was concluded in."""
    month, day = (int(part) for part in rule.fiscal_year_end.split("-"))
    last_day = min(day, calendar.monthrange(concluded_on.year, month)[1])
    year_end = date(concluded_on.year, month, last_day)
    if year_end < concluded_on:
        next_last = min(day, calendar.monthrange(concluded_on.year + 1, month)[1])
        year_end = date(concluded_on.year + 1, month, next_last)
    month_end = _add_months(year_end.replace(day=1), rule.filing_months_after_year_end)
    filing_deadline = month_end.replace(day=calendar.monthrange(month_end.year, month_end.month)[1])
    return add_years(filing_deadline + timedelta(days=1), rule.tax_years) - timedelta(days=1)


def retention_until(rule: RetentionSettings, concluded_on: date, dispatch_end: date | None) -> date:
    """保管期限 of a signed contract under the mapping's rule (see contracts.toml)."""
    ledger = add_years(dispatch_end, rule.dispatch_ledger_years) if dispatch_end else None
    tax = tax_retention_until(rule, concluded_on)
    if rule.rule == "dispatch_ledger" and ledger:
        return ledger
    if rule.rule == "tax" or ledger is None:
        return tax
    return max(ledger, tax)


def master_retention_until(rule: RetentionSettings, concluded_on: date, trade_ended_on: date | None,
                           individual_untils: list[date]) -> date:
    """保管期限 of a 基本契約: it governs every individual contract while trading lasts, so the rule
    runs from the day trading ended (取引終了日, as both 締結日 and 派遣終了日; before that from its own
    締結日), and it is never shorter than any individual contract under it."""
    if trade_ended_on is None:
        base = retention_until(rule, concluded_on, None)
    else:
        base = retention_until(rule, max(trade_ended_on, concluded_on), trade_ended_on)
    return max([base, *individual_untils])
