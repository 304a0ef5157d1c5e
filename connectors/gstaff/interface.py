"""What the flows may ask of G-Staff (seed A-1, A-5, A-6): find a client and its history,
register a client, share an accepted order, archive a signed contract with its retention date
(and extend that date),
and, for the dispatch-law checks (法第40条の2, 第40条の3), a dispatch worker's employment and
birth date and the client's assignment history.

G-Staff publishes no API we rely on: the live client speaks the HTTP contract in
``docs/gstaff-openapi.yaml`` that the company's IT puts in front of G-Staff. Every write takes
our ``reference`` (e.g. ``kintone:orders:12``) so a retry can look up what was already done
instead of doing it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable


class MatchKind(StrEnum):
    """Why ``find_clients`` returned a client, strongest first."""

    CORPORATE_NUMBER = "corporate_number"  # same 法人番号: the same legal entity
    NAME_AND_PHONE = "name_and_phone"  # same normalised name and the same phone number
    NAME = "name"  # same normalised name only: a candidate for a person to confirm


@dataclass(frozen=True)
class ClientSummary:
    client_id: str
    name: str
    corporate_number: str = ""  # 法人番号 (13 digits)
    phone: str = ""
    address: str = ""
    reference: str = ""  # our reference when we registered it
    matched_by: MatchKind | None = None  # set by find_clients only


@dataclass(frozen=True)
class TroubleEntry:
    occurred_on: date
    category: str  # e.g. 未払い, 労務トラブル, クレーム
    summary: str


@dataclass(frozen=True)
class WorkSite:
    name: str  # 就業場所 / 事業所
    conflict_date: date | None = None  # 抵触日


@dataclass(frozen=True)
class ClientHistory:
    client_id: str
    troubles: list[TroubleEntry] = field(default_factory=list)  # 過去トラブル
    work_sites: list[WorkSite] = field(default_factory=list)
    turnover_rate: Decimal | None = None  # 離職率 (0.25 = 25 %)
    current_staff: int = 0  # staff dispatched now
    past_staff: int = 0  # staff dispatched before


@dataclass(frozen=True)
class NewClient:
    name: str
    reference: str
    corporate_number: str = ""
    phone: str = ""
    address: str = ""


@dataclass(frozen=True)
class SharedOrder:
    reference: str
    client_id: str
    title: str
    job_description: str = ""
    start_on: date | None = None
    billing_rate: Decimal | None = None


@dataclass(frozen=True)
class SharedIndividualContract:
    """An individual contract's data once its staff are decided (seed A-5)."""

    reference: str  # kintone:contracts:<id>:<content digest>
    client_id: str
    staff_name: str
    dispatch_start: date
    dispatch_end: date
    order_id: str = ""
    work_location: str = ""
    job_description: str = ""
    wage: str = ""
    commander: str = ""


@dataclass(frozen=True)
class RepWorkload:
    """What G-Staff knows of one sales rep's load now (seed A-2)."""

    code: str  # kintone login name
    current_staff: int = 0  # 担当スタッフ数: staff dispatched now
    current_clients: int = 0  # clients with staff dispatched now


@dataclass(frozen=True)
class ArchivedContract:
    reference: str  # e.g. kintone:contracts:7
    client_id: str
    file_name: str
    content: bytes
    retention_until: date  # 保管期限
    contract_kind: str = ""  # 基本契約 / 個別契約
    content_type: str = "application/pdf"
    # 電子帳簿保存法's search keys (取引年月日, 取引金額, 取引先): the archive must find it by these.
    transaction_date: date | None = None  # 取引年月日: the day the contract was concluded
    amount: Decimal | None = None  # 取引金額 in yen, None when the contract states none
    counterparty: str = ""  # 取引先: the client's name


class EmploymentType(StrEnum):
    """雇用形態 of a dispatch worker with us (the 派遣元)."""

    INDEFINITE = "indefinite"  # 無期雇用
    FIXED_TERM = "fixed_term"  # 有期雇用


@dataclass(frozen=True)
class FormerEmployment:
    """A client the worker was once employed by directly (not dispatched): 法第40条の9."""

    client_id: str
    left_on: date  # 離職日
    mandatory_retirement: bool = False  # left at the client's 定年


@dataclass(frozen=True)
class StaffMember:
    """A dispatch worker (派遣スタッフ) as G-Staff holds them. Personal data: never logged."""

    staff_id: str
    employment_type: EmploymentType
    birth_date: date | None = None
    former_employers: list[FormerEmployment] = field(default_factory=list)  # clients they worked for


@dataclass(frozen=True)
class Assignment:
    """One past or current dispatch of one worker to one client's work site (派遣実績)."""

    staff_id: str
    work_site: str  # 事業所 (as in ClientHistory.work_sites)
    organization_unit: str  # 組織単位 (課 etc.)
    start_on: date
    end_on: date  # the last day of the dispatch (planned, for a current one)
    reference: str = ""  # our contract reference when kgbridge issued it (kintone-contracts-7)
    period_limited: bool = True  # False when the dispatch was exempt from the period limits


@runtime_checkable
class GStaffClient(Protocol):
    def find_clients(self, *, corporate_number: str = "", name: str = "", phone: str = "") -> list[ClientSummary]:
        """Clients matching the 法人番号, else the normalised name (and phone), each with ``matched_by``.

        Clients with the 法人番号 come alone when there are any. Otherwise clients with the
        same normalised name, those whose phone also matches first; a client whose own 法人番号
        differs from the one asked for is never returned (another legal entity). Matching is
        ``connectors.gstaff.matching``, the same for the live client and the fake.
        """

    def get_history(self, client_id: str) -> ClientHistory:
        """Past trouble, 抵触日 per work site, turnover and staff counts of one client."""

    def get_staff(self, staff_id: str) -> StaffMember:
        """雇用形態, birth date and former direct employers of one dispatch worker
        (GStaffNotFound when unknown)."""

    def get_assignments(self, client_id: str) -> list[Assignment]:
        """Every dispatch of our workers to this client, past and current, any order."""

    def register_client(self, client: NewClient) -> ClientSummary:
        """Register a client; never twice for the same reference."""

    def find_client_by_reference(self, reference: str) -> ClientSummary | None:
        """The client we registered under ``reference``, if any (check before registering again)."""

    def rep_workloads(self, codes: list[str]) -> dict[str, RepWorkload]:
        """Each rep's staff and clients now, by kintone login name (zeros for a rep G-Staff does not know)."""

    def share_order(self, order: SharedOrder) -> str:
        """Share an accepted order; return G-Staff's order id. Same reference → same id."""

    def update_order(self, order_id: str, order: SharedOrder, change_key: str) -> None:
        """Replace a shared order's content after an edit; the same ``change_key`` again changes nothing."""

    def close_order(self, order_id: str, reference: str, closed_on: date) -> None:
        """Close a shared order (終了); closing it again changes nothing."""

    def share_individual_contract(self, contract: SharedIndividualContract) -> str:
        """Share an individual contract's data; return G-Staff's id. Same reference → same id."""

    def archive_contract(self, contract: ArchivedContract) -> str:
        """Store a signed contract with its retention date; return the archive id.
        Same reference → the same archive, never a second copy."""

    def extend_retention(self, archive_id: str, reference: str, retention_until: date) -> date:
        """Keep an archived contract at least until ``retention_until``; return the 保管期限 it holds
        now (the later of both: never shortened). Repeating it changes nothing."""
