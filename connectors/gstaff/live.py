"""G-Staff over HTTP: the contract in ``docs/gstaff-openapi.yaml`` (implements ``GStaffClient``).

G-Staff has no public API; the company's IT runs a thin service that speaks that document.
Every failure leaves as a ``GStaffError`` subclass (``connectors.gstaff.errors``); no
``requests`` exception escapes. GETs are retried on transient failures within a small budget.
POSTs are retried here only when the service certainly did nothing (429, a connection that
never opened): after a 5xx or a time-out the write may have been saved, so the job's own
retry looks the reference up first.

The API key travels only in the ``Authorization`` header of each request; it is never put on
the session, in messages or in ``repr``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests
from urllib3.exceptions import NewConnectionError

from connectors.gstaff.errors import (
    GStaffConfigError,
    GStaffConnectionError,
    GStaffDataError,
    GStaffError,
    GStaffNotFound,
    GStaffProtocolError,
    GStaffRateLimited,
    GStaffTransientError,
)
from connectors.gstaff.interface import (
    ArchivedContract,
    Assignment,
    ClientHistory,
    ClientSummary,
    EmploymentType,
    FormerEmployment,
    NewClient,
    RepWorkload,
    SharedIndividualContract,
    SharedOrder,
    StaffMember,
    TroubleEntry,
    WorkSite,
)
from connectors.gstaff.matching import ClientQuery, match_clients
from connectors.http_retry import make_retrying, parse_retry_after
from kgbridge.logs import get_logger
from mappings.normalize import normalize_company_name

log = get_logger(__name__)

_MAX_MESSAGE_CHARS = 200
_USER_AGENT = "kgbridge/0.1 (G-Staff client)"


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, GStaffTransientError)


def _never_sent(cause: BaseException | None) -> bool:
    """True when requests failed while connecting, before any byte of the request left."""
    if isinstance(cause, requests.ConnectTimeout):
        return True
    if isinstance(cause, requests.ConnectionError) and cause.args:
        return isinstance(getattr(cause.args[0], "reason", None), NewConnectionError)
    return False


def _certainly_not_processed(exc: BaseException) -> bool:
    """Retry rule for POSTs: repeat only what the service certainly did not do."""
    if isinstance(exc, GStaffRateLimited):
        return True  # the contract: 429 is answered before anything is done
    if isinstance(exc, GStaffConnectionError):
        return _never_sent(exc.__cause__)
    return False


class LiveGStaffClient:
    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        session: requests.Session | None = None,
        timeout: float = 15.0,
        retry_budget: float = 30.0,
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise GStaffConfigError("G-Staff base URL must start with https://")
        if not api_key or not api_key.isascii() or any(ch.isspace() for ch in api_key):
            raise GStaffConfigError("G-Staff API key is missing or has invalid characters")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = timeout
        self._retry_budget = retry_budget
        self._max_attempts = max_attempts
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"LiveGStaffClient(base_url={self._base_url!r})"

    # -- clients ---------------------------------------------------------------------

    def find_clients(self, *, corporate_number: str = "", name: str = "", phone: str = "") -> list[ClientSummary]:
        query = ClientQuery.of(corporate_number=corporate_number, name=name, phone=phone)
        if query.is_empty:
            raise GStaffDataError("give a 法人番号, a name or a phone number to search by")
        params = {"corporate_number": query.corporate_number, "name": query.core_name, "phone": query.phone}
        body = self._call("GET", "/clients", "GET /clients", params={k: v for k, v in params.items() if v})
        candidates = _pick(body, lambda b: [_client(item) for item in b["clients"]], "GET /clients")
        if body.get("truncated") is True:
            # The contract puts exact matches first; say so in the log in case one was cut off.
            log.warning("gstaff search truncated", candidates=len(candidates))
        return match_clients(query, candidates)

    def get_history(self, client_id: str) -> ClientHistory:
        what = "GET /clients/{id}/history"
        path = f"/clients/{quote(client_id, safe='')}/history"
        return _pick(self._call("GET", path, what), _history, what)

    # -- dispatch workers and assignments (法第40条の2, 第40条の3) ----------------------

    def get_staff(self, staff_id: str) -> StaffMember:
        what = "GET /staff/{id}"
        return _pick(self._call("GET", f"/staff/{quote(staff_id, safe='')}", what), _staff, what)

    def get_assignments(self, client_id: str) -> list[Assignment]:
        what = "GET /clients/{id}/assignments"
        path = f"/clients/{quote(client_id, safe='')}/assignments"
        return _pick(self._call("GET", path, what), lambda b: [_assignment(a) for a in b["assignments"]], what)

    def register_client(self, client: NewClient) -> ClientSummary:
        body: dict[str, Any] = {"reference": client.reference, "name": normalize_company_name(client.name)}
        if client.corporate_number:
            body["corporate_number"] = client.corporate_number
        if client.phone:
            body["phone"] = client.phone
        if client.address:
            body["address"] = client.address
        answer = self._call("POST", "/clients", "POST /clients", json=body, idempotent=False)
        return _pick(answer, _client, "POST /clients")

    def find_client_by_reference(self, reference: str) -> ClientSummary | None:
        try:
            answer = self._call("GET", "/clients/by-reference", "GET /clients/by-reference",
                                params={"reference": reference})
        except GStaffNotFound:
            return None
        return _pick(answer, _client, "GET /clients/by-reference")

    # -- reps ------------------------------------------------------------------------

    def rep_workloads(self, codes: list[str]) -> dict[str, RepWorkload]:
        wanted = list(dict.fromkeys(c for c in codes if c))
        out: dict[str, RepWorkload] = {}
        for start in range(0, len(wanted), 50):  # the contract takes at most 50 codes a call
            chunk = wanted[start:start + 50]
            body = self._call("GET", "/reps/workload", "GET /reps/workload", params={"codes": ",".join(chunk)})
            for rep in _pick(body, lambda b: [_workload(item) for item in b["reps"]], "GET /reps/workload"):
                out[rep.code] = rep
        return {code: out.get(code, RepWorkload(code)) for code in wanted}

    # -- orders and contracts --------------------------------------------------------

    def share_order(self, order: SharedOrder) -> str:
        body: dict[str, Any] = {"reference": order.reference, "client_id": order.client_id, "title": order.title}
        if order.job_description:
            body["job_description"] = order.job_description
        if order.start_on is not None:
            body["start_on"] = order.start_on.isoformat()
        if order.billing_rate is not None:
            body["billing_rate"] = format(Decimal(order.billing_rate), "f")
        answer = self._call("POST", "/orders", "POST /orders", json=body, idempotent=False)
        return _pick(answer, lambda b: _text(b["order_id"]), "POST /orders")

    def update_order(self, order_id: str, order: SharedOrder, change_key: str) -> None:
        body: dict[str, Any] = {"reference": order.reference, "change_key": change_key, "title": order.title}
        if order.job_description:
            body["job_description"] = order.job_description
        if order.start_on is not None:
            body["start_on"] = order.start_on.isoformat()
        if order.billing_rate is not None:
            body["billing_rate"] = format(Decimal(order.billing_rate), "f")
        what = "PUT /orders/{id}"
        # A PUT is idempotent (same change_key, same content): safe to repeat after a lost answer.
        answer = self._call("PUT", f"/orders/{quote(order_id, safe='')}", what, json=body)
        _pick(answer, lambda b: _text(b["order_id"]), what)

    def close_order(self, order_id: str, reference: str, closed_on: date) -> None:
        what = "POST /orders/{id}/close"
        answer = self._call("POST", f"/orders/{quote(order_id, safe='')}/close", what,
                            json={"reference": reference, "closed_on": closed_on.isoformat()})
        _pick(answer, lambda b: _text(b["order_id"]), what)

    def share_individual_contract(self, contract: SharedIndividualContract) -> str:
        body: dict[str, Any] = {"reference": contract.reference, "client_id": contract.client_id,
                                "staff_name": contract.staff_name,
                                "dispatch_start": contract.dispatch_start.isoformat(),
                                "dispatch_end": contract.dispatch_end.isoformat()}
        for name in ("order_id", "work_location", "job_description", "wage", "commander"):
            if getattr(contract, name):
                body[name] = getattr(contract, name)
        answer = self._call("POST", "/individual-contracts", "POST /individual-contracts", json=body,
                            idempotent=False)
        return _pick(answer, lambda b: _text(b["contract_id"]), "POST /individual-contracts")

    def archive_contract(self, contract: ArchivedContract) -> str:
        body: dict[str, Any] = {
            "reference": contract.reference,
            "client_id": contract.client_id,
            "file_name": contract.file_name,
            "content_type": contract.content_type,
            "content_base64": base64.b64encode(contract.content).decode("ascii"),
            "sha256": hashlib.sha256(contract.content).hexdigest(),
            "retention_until": contract.retention_until.isoformat(),
        }
        if contract.contract_kind:
            body["contract_kind"] = contract.contract_kind
        if contract.transaction_date is not None:
            body["search_keys"] = {  # 電子帳簿保存法: 取引年月日, 取引金額, 取引先
                "transaction_date": contract.transaction_date.isoformat(),
                "amount": None if contract.amount is None else format(Decimal(contract.amount), "f"),
                "counterparty": contract.counterparty,
            }
        answer = self._call("POST", "/contracts", "POST /contracts", json=body, idempotent=False)
        return _pick(answer, lambda b: _text(b["archive_id"]), "POST /contracts")

    def extend_retention(self, archive_id: str, reference: str, retention_until: date) -> date:
        what = "PUT /contracts/{id}/retention"
        # A PUT keeping the later date: safe to repeat after a lost answer.
        answer = self._call("PUT", f"/contracts/{quote(archive_id, safe='')}/retention", what,
                            json={"reference": reference, "retention_until": retention_until.isoformat()})
        return _pick(answer, lambda b: date.fromisoformat(b["retention_until"]), what)

    # -- plumbing --------------------------------------------------------------------

    def _call(self, method: str, path: str, what: str, *, params: Mapping[str, str] | None = None,
              json: Any = None, idempotent: bool = True) -> Any:
        """One call with the retry policy; ``what`` names it in errors without any value."""
        retrying = make_retrying(self._retry_budget, self._max_attempts, sleep=self._sleep,
                                 is_retryable=_is_transient if idempotent else _certainly_not_processed)
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json",
                   "User-Agent": _USER_AGENT}
        return retrying(self._send_once, what, method, self._base_url + path, params=params, json=json,
                        headers=headers)

    def _send_once(self, what: str, method: str, url: str, **kw) -> Any:
        try:
            response = self._session.request(method, url, timeout=self._timeout, **kw)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            raise GStaffConnectionError(f"{what}: no answer ({type(exc).__name__})") from exc
        except requests.RequestException as exc:
            failure = type(exc).__name__
        else:
            failure = None
        if failure is not None:
            # Invalid URL, too many redirects …: not a blip. Raised outside the except block so
            # the original is not even the context: some quote header values, and a header
            # holds the API key.
            raise GStaffConfigError(f"{what}: request failed ({failure})")
        if not 200 <= response.status_code < 300:
            raise _error_from(response, what)
        try:
            return response.json()
        except ValueError:
            # A proxy's or login page's HTML instead of the service: most likely passing.
            raise GStaffTransientError(f"{what}: unexpected answer ({_content_type(response)})",
                                       status=response.status_code) from None


def _error_from(response: requests.Response, what: str) -> GStaffError:
    """The typed error for a non-2xx answer, with the service's code and a short message."""
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message = None, f"non-JSON answer ({_content_type(response)})"
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        code = body["code"][:50]
        message = str(body.get("message") or "")[:_MAX_MESSAGE_CHARS]
    status = response.status_code
    kw: dict[str, Any] = {"status": status, "code": code}
    text = f"{what}: {message}"
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if status == 429:
        return GStaffRateLimited(text, retry_after=retry_after, **kw)
    if status >= 500 or status == 408:
        return GStaffTransientError(text, retry_after=retry_after, **kw)
    if status in (401, 403):
        return GStaffConfigError(text, **kw)
    if status == 404:
        return GStaffNotFound(text, **kw)
    if status in (400, 409, 413, 422):
        return GStaffDataError(text, **kw)
    return GStaffProtocolError(text, **kw)  # a status the contract does not use


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"


def _pick(body: Any, read: Callable[[Any], Any], what: str) -> Any:
    """Read an answer body; one outside the contract is the service's bug, not a blip."""
    try:
        return read(body)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise GStaffProtocolError(f"{what}: the answer does not follow docs/gstaff-openapi.yaml") from None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError("expected a string")
    return value


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if value else None


def _client(item: Mapping[str, Any]) -> ClientSummary:
    client_id = _text(item["client_id"])
    if not client_id:
        raise ValueError("client_id is empty")
    return ClientSummary(
        client_id=client_id,
        name=_text(item["name"]),
        corporate_number=_text(item.get("corporate_number")),
        phone=_text(item.get("phone")),
        address=_text(item.get("address")),
        reference=_text(item.get("reference")),
    )


def _workload(item: Mapping[str, Any]) -> RepWorkload:
    return RepWorkload(code=_text(item["code"]), current_staff=int(item["current_staff"]),
                       current_clients=int(item["current_clients"]))


def _history(body: Mapping[str, Any]) -> ClientHistory:
    rate = body.get("turnover_rate")
    if isinstance(rate, bool) or (rate is not None and not isinstance(rate, (int, float))):
        raise TypeError("turnover_rate must be a number")
    return ClientHistory(
        client_id=_text(body["client_id"]),
        troubles=[TroubleEntry(date.fromisoformat(t["occurred_on"]), _text(t["category"]), _text(t["summary"]))
                  for t in body["troubles"]],
        work_sites=[WorkSite(_text(s["name"]), _date(s.get("conflict_date"))) for s in body["work_sites"]],
        turnover_rate=None if rate is None else Decimal(str(rate)),
        current_staff=int(body["current_staff"]),
        past_staff=int(body["past_staff"]),
    )



def _staff(body: Mapping[str, Any]) -> StaffMember:
    staff_id = _text(body["staff_id"])
    if not staff_id:
        raise ValueError("staff_id is empty")
    former = [FormerEmployment(_text(f["client_id"]), date.fromisoformat(f["left_on"]),
                               _flag(f.get("mandatory_retirement", False)))
              for f in body.get("former_employers") or []]
    return StaffMember(staff_id, EmploymentType(body["employment_type"]), _date(body.get("birth_date")), former)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("expected a boolean")
    return value


def _assignment(item: Mapping[str, Any]) -> Assignment:
    limited = item.get("period_limited", True)
    if not isinstance(limited, bool):
        raise TypeError("period_limited must be a boolean")
    return Assignment(
        staff_id=_text(item["staff_id"]),
        work_site=_text(item["work_site"]),
        organization_unit=_text(item["organization_unit"]),
        start_on=date.fromisoformat(item["start_on"]),
        end_on=date.fromisoformat(item["end_on"]),
        reference=_text(item.get("reference")),
        period_limited=limited,
    )
