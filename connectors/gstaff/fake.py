"""An in-memory G-Staff with the live client's interface and errors.

Preloaded with sample clients for the embedded default (``with_samples``). Tests read its
state directly: ``clients``, ``histories``, ``orders``, ``archives``, ``calls``; ``fail_next``
makes the next call of a method raise, and ``lose_answer_of`` makes a write succeed and then
raise a timeout, as when G-Staff saved the data but the answer never came back.
"""

from __future__ import annotations

import itertools
import threading
import unicodedata
from collections import Counter, defaultdict
from datetime import date
from decimal import Decimal

from connectors.gstaff.errors import GStaffNotFound, GStaffTransientError
from connectors.gstaff.interface import (
    ArchivedContract,
    ClientHistory,
    ClientSummary,
    NewClient,
    SharedOrder,
    TroubleEntry,
    WorkSite,
)


def _simple_key(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text or "").split())


class FakeGStaff:
    def __init__(self) -> None:
        self.clients: dict[str, ClientSummary] = {}
        self.histories: dict[str, ClientHistory] = {}
        self.orders: dict[str, tuple[str, SharedOrder]] = {}  # reference -> (order id, order)
        self.archives: dict[str, tuple[str, ArchivedContract]] = {}  # reference -> (archive id, contract)
        self.calls: Counter = Counter()
        self._failures: dict[str, list[Exception]] = defaultdict(list)
        self._lost_answers: Counter = Counter()
        self._ids = itertools.count(1001)
        self._lock = threading.RLock()
        # How names and phones are compared; the client-lookup work plugs in the real normaliser.
        self.name_key = _simple_key
        self.phone_key = lambda p: "".join(ch for ch in unicodedata.normalize("NFKC", p or "") if ch.isdigit())

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
        return fake

    def add_client(self, client: ClientSummary, history: ClientHistory | None = None) -> None:
        self.clients[client.client_id] = client
        self.histories[client.client_id] = history or ClientHistory(client.client_id)

    def fail_next(self, method: str, error: Exception, times: int = 1) -> None:
        self._failures[method].extend([error] * times)

    def lose_answer_of(self, method: str, times: int = 1) -> None:
        self._lost_answers[method] += times

    # -- interface -------------------------------------------------------------------

    def find_clients(self, *, corporate_number: str = "", name: str = "", phone: str = "") -> list[ClientSummary]:
        self._enter("find_clients")
        with self._lock:
            if corporate_number:
                found = [c for c in self.clients.values() if c.corporate_number == corporate_number]
                if found:
                    return found
            if not name:
                return []
            key = self.name_key(name)
            matches = [c for c in self.clients.values() if self.name_key(c.name) == key]
            if phone and len(matches) > 1:
                narrowed = [c for c in matches if self.phone_key(c.phone) == self.phone_key(phone)]
                matches = narrowed or matches
            return matches

    def get_history(self, client_id: str) -> ClientHistory:
        self._enter("get_history")
        with self._lock:
            if client_id not in self.histories:
                raise GStaffNotFound(f"client {client_id} not found", status=404)
            return self.histories[client_id]

    def register_client(self, client: NewClient) -> ClientSummary:
        self._enter("register_client")
        with self._lock:
            existing = self._by_reference(client.reference)
            if existing is None:
                existing = ClientSummary(f"G-{next(self._ids)}", client.name, client.corporate_number, client.phone,
                                         client.address, client.reference)
                self.add_client(existing)
        self._maybe_lose("register_client")
        return existing

    def find_client_by_reference(self, reference: str) -> ClientSummary | None:
        self._enter("find_client_by_reference")
        with self._lock:
            return self._by_reference(reference)

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

    # -- internals -------------------------------------------------------------------

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
