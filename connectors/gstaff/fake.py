"""An in-memory G-Staff with the live client's interface and errors.

Preloaded with sample clients for the embedded default (``with_samples``). Tests read its
state directly: ``clients``, ``histories``, ``staff``, ``assignments``, ``orders``, ``archives``,
``calls``; ``fail_next``
makes the next call of a method raise, and ``lose_answer_of`` makes a write succeed and then
raise a timeout, as when G-Staff saved the data but the answer never came back.

Matching is ``connectors.gstaff.matching`` over ``name_key``/``phone_key`` (our normalisers
by default), as the live client narrows the service's candidates; registration checks what
the G-Staff service checks (a name, a valid 法人番号) and answers the same errors.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import date
from decimal import Decimal

from connectors.gstaff.errors import GStaffDataError, GStaffNotFound, GStaffTransientError
from connectors.gstaff.interface import (
    ArchivedContract,
    Assignment,
    ClientHistory,
    ClientSummary,
    EmploymentType,
    NewClient,
    RepWorkload,
    SharedIndividualContract,
    SharedOrder,
    StaffMember,
    TroubleEntry,
    WorkSite,
)
from connectors.gstaff.matching import ClientQuery, match_clients
from mappings.normalize import company_key, is_valid_corporate_number, normalize_company_name, phone_key


class FakeGStaff:
    def __init__(self) -> None:
        self.clients: dict[str, ClientSummary] = {}
        self.histories: dict[str, ClientHistory] = {}
        self.staff: dict[str, StaffMember] = {}
        self.assignments: dict[str, list[Assignment]] = defaultdict(list)  # client id -> its dispatches
        self.orders: dict[str, tuple[str, SharedOrder]] = {}  # reference -> (order id, order)
        self.archives: dict[str, tuple[str, ArchivedContract]] = {}  # reference -> (archive id, contract)
        self.order_updates: dict[str, list[tuple[str, SharedOrder]]] = defaultdict(list)  # order id -> changes
        self.closed_orders: dict[str, date] = {}  # order id -> closed_on
        self.individual_contracts: dict[str, tuple[str, SharedIndividualContract]] = {}  # reference -> (id, data)
        self.workloads: dict[str, RepWorkload] = {}  # kintone login name -> load (tests set it)
        self.registrations: list[NewClient] = []  # clients actually created by register_client
        self.calls: Counter = Counter()
        self._failures: dict[str, list[Exception]] = defaultdict(list)
        self._lost_answers: Counter = Counter()
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        # How names and phones are compared (mappings.normalize); tests may swap them.
        self.name_key = company_key
        self.phone_key = phone_key

    # -- set-up ----------------------------------------------------------------------

    @classmethod
    def with_samples(cls) -> "FakeGStaff":
        fake = cls()
        fake.add_client(
            ClientSummary("G-1001", "株式会社サンプル物流", corporate_number="9234567890123", phone="03-0000-0000"),
            ClientHistory("G-1001", troubles=[TroubleEntry(date(2024, 6, 10), "労務トラブル", "残業時間の認識相違")],
                          work_sites=[WorkSite("東京物流センター", date(2027, 4, 1))], turnover_rate=Decimal("0.18"),
                          current_staff=4, past_staff=12))
        fake.add_client(
            ClientSummary("G-1002", "株式会社テスト商事", corporate_number="", phone="045-000-0000"),
            ClientHistory("G-1002", turnover_rate=Decimal("0.05"), current_staff=1, past_staff=3))
        # Two clients of the same name in different cities: only a person can tell which one.
        fake.add_client(
            ClientSummary("G-1003", "株式会社みどり運輸", phone="011-000-0000", address="北海道札幌市"),
            ClientHistory("G-1003", turnover_rate=Decimal("0.30"), past_staff=2))
        fake.add_client(
            ClientSummary("G-1004", "みどり運輸株式会社", phone="092-000-0000", address="福岡県福岡市"),
            ClientHistory("G-1004", turnover_rate=Decimal("0.10"), current_staff=2, past_staff=5))
        # The two workers of the sample contract: one renewed after a year in 物流課, one new.
        fake.add_staff(StaffMember("S-2001", EmploymentType.FIXED_TERM, date(1990, 4, 15)))
        fake.add_staff(StaffMember("S-2002", EmploymentType.FIXED_TERM, date(1985, 9, 3)))
        fake.add_assignment("G-1001", Assignment("S-2001", "東京物流センター", "物流課", date(2025, 12, 1),
                                                 date(2026, 11, 30)))
        return fake

    def add_client(self, client: ClientSummary, history: ClientHistory | None = None) -> None:
        self.clients[client.client_id] = client
        self.histories[client.client_id] = history or ClientHistory(client.client_id)

    def add_staff(self, member: StaffMember) -> None:
        self.staff[member.staff_id] = member

    def add_assignment(self, client_id: str, assignment: Assignment) -> None:
        self.assignments[client_id].append(assignment)

    def fail_next(self, method: str, error: Exception, times: int = 1) -> None:
        self._failures[method].extend([error] * times)

    def lose_answer_of(self, method: str, times: int = 1) -> None:
        self._lost_answers[method] += times

    # -- interface -------------------------------------------------------------------

    def find_clients(self, *, corporate_number: str = "", name: str = "", phone: str = "") -> list[ClientSummary]:
        self._enter("find_clients")
        query = ClientQuery.of(corporate_number=corporate_number, name=name, phone=phone,
                               name_key=self.name_key, phone_key_of=self.phone_key)
        if query.is_empty:
            raise GStaffDataError("give a 法人番号, a name or a phone number to search by", status=400,
                                  code="invalid_request")
        with self._lock:
            return match_clients(query, list(self.clients.values()), self.name_key, self.phone_key)

    def get_history(self, client_id: str) -> ClientHistory:
        self._enter("get_history")
        with self._lock:
            if client_id not in self.histories:
                raise GStaffNotFound(f"client {client_id} not found", status=404)
            return self.histories[client_id]

    def get_staff(self, staff_id: str) -> StaffMember:
        self._enter("get_staff")
        with self._lock:
            if staff_id not in self.staff:
                raise GStaffNotFound(f"staff {staff_id} not found", status=404)
            return self.staff[staff_id]

    def get_assignments(self, client_id: str) -> list[Assignment]:
        self._enter("get_assignments")
        with self._lock:
            if client_id not in self.clients:
                raise GStaffNotFound(f"client {client_id} not found", status=404)
            return list(self.assignments.get(client_id, ()))

    def register_client(self, client: NewClient) -> ClientSummary:
        self._enter("register_client")
        if not client.reference or not normalize_company_name(client.name):
            raise GStaffDataError("a client needs a name and a reference", status=400, code="invalid_request")
        if client.corporate_number and not is_valid_corporate_number(client.corporate_number):
            raise GStaffDataError("corporate_number is not a valid 法人番号", status=400, code="invalid_request")
        with self._lock:
            existing = self._by_reference(client.reference)
            if existing is None:
                existing = ClientSummary(self._new_client_id(), client.name, client.corporate_number, client.phone,
                                         client.address, client.reference)
                self.add_client(existing)
                self.registrations.append(client)
        self._maybe_lose("register_client")
        return existing

    def find_client_by_reference(self, reference: str) -> ClientSummary | None:
        self._enter("find_client_by_reference")
        with self._lock:
            return self._by_reference(reference)

    def rep_workloads(self, codes: list[str]) -> dict[str, RepWorkload]:
        self._enter("rep_workloads")
        with self._lock:
            return {code: self.workloads.get(code, RepWorkload(code)) for code in dict.fromkeys(codes) if code}

    def share_order(self, order: SharedOrder) -> str:
        self._enter("share_order")
        with self._lock:
            if order.client_id not in self.clients:
                raise GStaffNotFound(f"client {order.client_id} not found", status=404)
            if order.reference not in self.orders:
                self.orders[order.reference] = (f"O-{next(self._ids)}", order)
            order_id = self.orders[order.reference][0]
        self._maybe_lose("share_order")
        return order_id

    def update_order(self, order_id: str, order: SharedOrder, change_key: str) -> None:
        self._enter("update_order")
        with self._lock:
            self._order(order_id)
            updates = self.order_updates[order_id]
            if not updates or updates[-1][0] != change_key:
                updates.append((change_key, order))
        self._maybe_lose("update_order")

    def close_order(self, order_id: str, reference: str, closed_on: date) -> None:
        self._enter("close_order")
        with self._lock:
            self._order(order_id)
            self.closed_orders.setdefault(order_id, closed_on)
        self._maybe_lose("close_order")

    def share_individual_contract(self, contract: SharedIndividualContract) -> str:
        self._enter("share_individual_contract")
        with self._lock:
            if contract.client_id not in self.clients:
                raise GStaffNotFound(f"client {contract.client_id} not found", status=404)
            if contract.reference not in self.individual_contracts:
                self.individual_contracts[contract.reference] = (f"C-{next(self._ids)}", contract)
            contract_id = self.individual_contracts[contract.reference][0]
        self._maybe_lose("share_individual_contract")
        return contract_id

    def archive_contract(self, contract: ArchivedContract) -> str:
        self._enter("archive_contract")
        with self._lock:
            if contract.client_id not in self.clients:
                raise GStaffNotFound(f"client {contract.client_id} not found", status=404)
            if contract.reference not in self.archives:
                self.archives[contract.reference] = (f"A-{next(self._ids)}", contract)
            archive_id = self.archives[contract.reference][0]
        self._maybe_lose("archive_contract")
        return archive_id

    def extend_retention(self, archive_id: str, reference: str, retention_until: date) -> date:
        self._enter("extend_retention")
        with self._lock:
            found = next(((ref, c) for ref, (aid, c) in self.archives.items() if aid == archive_id), None)
            if found is None:
                raise GStaffNotFound(f"archive {archive_id} not found", status=404)
            if found[0] != reference:
                raise GStaffDataError(f"archive {archive_id} belongs to another reference", status=409)
            kept = max(found[1].retention_until, retention_until)
            self.archives[reference] = (archive_id, replace(found[1], retention_until=kept))
        self._maybe_lose("extend_retention")
        return kept

    # -- internals -------------------------------------------------------------------

    def _order(self, order_id: str) -> SharedOrder:
        found = next((order for oid, order in self.orders.values() if oid == order_id), None)
        if found is None:
            raise GStaffNotFound(f"order {order_id} not found", status=404)
        return found

    def _new_client_id(self) -> str:
        while (client_id := f"G-{next(self._ids)}") in self.clients:
            pass
        return client_id

    def _by_reference(self, reference: str) -> ClientSummary | None:
        return next((c for c in self.clients.values() if reference and c.reference == reference), None)

    def _enter(self, method: str) -> None:
        self.calls[method] += 1
        pending = self._failures.get(method)
        if pending:
            raise pending.pop(0)

    def _maybe_lose(self, method: str) -> None:
        if self._lost_answers[method] > 0:
            self._lost_answers[method] -= 1
            raise GStaffTransientError(f"{method}: read timed out (the write may have been saved)")
