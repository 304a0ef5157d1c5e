"""LiveGStaffClient against canned answers (``responses`` blocks real network), every request
and answer checked against docs/gstaff-openapi.yaml so the client and the contract cannot drift.

Sleeps are recorded, never slept.
"""

from __future__ import annotations

import base64
import hashlib
import json
import traceback
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from responses import matchers
from urllib3.exceptions import MaxRetryError, NewConnectionError

from connectors.gstaff.errors import (
    GStaffConfigError,
    GStaffConnectionError,
    GStaffDataError,
    GStaffNotFound,
    GStaffProtocolError,
    GStaffRateLimited,
    GStaffTransientError,
)
from connectors.gstaff.interface import (
    ArchivedContract,
    Assignment,
    ClientHistory,
    EmploymentType,
    FormerEmployment,
    GStaffClient,
    MatchKind,
    NewClient,
    SharedOrder,
    StaffMember,
    TroubleEntry,
    WorkSite,
)
from connectors.gstaff.live import LiveGStaffClient

ROOT = Path(__file__).resolve().parent.parent
CONTRACT = OpenAPI.from_file_path(str(ROOT / "docs" / "gstaff-openapi.yaml"))
BASE = "https://gstaff-bridge.example.internal/api/v1"  # the document's example server
API_KEY = "gsk_live_0123456789abcdefSECRET"

SAMPLE_CLIENT = {"client_id": "G-1001", "name": "株式会社サンプル物流", "corporate_number": "9234567890123",
                 "phone": "03-0000-0000", "address": "東京都江東区", "reference": None}
HISTORY = {
    "client_id": "G-1001",
    "troubles": [{"occurred_on": "2024-06-10", "category": "労務トラブル", "summary": "残業時間の認識相違"}],
    "work_sites": [{"name": "東京物流センター", "conflict_date": "2027-04-01"},
                   {"name": "千葉倉庫", "conflict_date": None}],
    "turnover_rate": 0.18,
    "current_staff": 4,
    "past_staff": 12,
}
UNAVAILABLE = {"code": "unavailable", "message": "G-Staff is under maintenance"}


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def check_against_contract(call) -> None:
    """Raise when a request or an answer does not follow docs/gstaff-openapi.yaml."""
    request = RequestsOpenAPIRequest(call.request)
    CONTRACT.validate_request(request)
    if isinstance(call.response, requests.Response):
        CONTRACT.validate_response(request, RequestsOpenAPIResponse(call.response))


@pytest.fixture
def gstaff(request):
    """The canned G-Staff service; on the way out every call is checked against the contract."""
    with responses.RequestsMock() as rsps:
        yield rsps
        if request.node.get_closest_marker("off_contract") is None:
            assert rsps.calls, "the test made no G-Staff call"
            for call in rsps.calls:
                check_against_contract(call)


@pytest.fixture
def client(sleeps) -> LiveGStaffClient:
    return LiveGStaffClient(BASE, API_KEY, sleep=sleeps)


def sent_json(call) -> dict:
    return json.loads(call.request.body)


# -- the contract itself -----------------------------------------------------------------------


def test_the_contract_checker_rejects_an_answer_outside_the_document(gstaff, client):
    # Proves the automatic check above can fail: an answer without "truncated".
    gstaff.get(f"{BASE}/clients", json={"clients": []})
    client.find_clients(name="株式会社サンプル物流")

    with pytest.raises(Exception, match="truncated"):
        check_against_contract(gstaff.calls[0])
    gstaff.calls.reset()  # keep the fixture's own check from failing on purpose
    gstaff.get(f"{BASE}/clients", json={"clients": [], "truncated": False})
    client.find_clients(name="株式会社サンプル物流")


def test_the_client_satisfies_the_gstaff_protocol(client):
    assert isinstance(client, GStaffClient)


# -- searching -----------------------------------------------------------------------------


def test_search_sends_the_core_name_the_phone_digits_and_a_valid_number(gstaff, client):
    gstaff.get(
        f"{BASE}/clients",
        json={"clients": [SAMPLE_CLIENT], "truncated": False},
        match=[matchers.query_param_matcher(
            {"corporate_number": "9234567890123", "name": "サンプル物流", "phone": "0300000000"})],
    )

    [found] = client.find_clients(corporate_number="９２３４５６７８９０１２３", name="㈱ サンプル物流",
                                  phone="０３－００００－００００")

    assert found.client_id == "G-1001" and found.matched_by is MatchKind.CORPORATE_NUMBER
    request = gstaff.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.req_kwargs["timeout"] == 15.0


def test_search_narrows_the_services_candidates_with_our_matching(gstaff, client):
    candidates = [
        {"client_id": "G-1", "name": "サンプル物流株式会社", "phone": "03-0000-0000"},
        {"client_id": "G-2", "name": "(株)サンプル物流", "phone": "06-1111-1111"},
        {"client_id": "G-3", "name": "株式会社サンプル物流サービス", "phone": "03-0000-0000"},  # another name
        {"client_id": "G-4", "name": "株式会社サンプル物流", "corporate_number": "7000012050002"},
    ]
    gstaff.get(f"{BASE}/clients", json={"clients": candidates, "truncated": False})

    found = client.find_clients(corporate_number="9234567890123", name="株式会社サンプル物流", phone="0300000000")

    # G-3 has another name; G-4 has another 法人番号, so it is another legal entity.
    assert [(c.client_id, c.matched_by) for c in found] == [("G-1", MatchKind.NAME_AND_PHONE),
                                                            ("G-2", MatchKind.NAME)]


def test_an_invalid_number_is_not_sent_and_the_name_is_searched_instead(gstaff, client):
    gstaff.get(f"{BASE}/clients", json={"clients": [], "truncated": False},
               match=[matchers.query_param_matcher({"name": "サンプル物流"})])

    assert client.find_clients(corporate_number="1234567890123", name="株式会社サンプル物流") == []


def test_a_search_with_nothing_to_search_by_is_refused_without_a_call(sleeps):
    client = LiveGStaffClient(BASE, API_KEY, sleep=sleeps)
    with responses.RequestsMock() as rsps, pytest.raises(GStaffDataError):
        client.find_clients(corporate_number="", name="株式会社", phone="内線")
    assert len(rsps.calls) == 0


def test_find_by_reference_returns_our_registration_or_none(gstaff, client):
    ours = dict(SAMPLE_CLIENT, client_id="G-1005", reference="kintone:inquiries:12")
    gstaff.get(f"{BASE}/clients/by-reference", json=ours,
               match=[matchers.query_param_matcher({"reference": "kintone:inquiries:12"})])
    gstaff.get(f"{BASE}/clients/by-reference", status=404,
               json={"code": "not_found", "message": "no client for this reference"})

    assert client.find_client_by_reference("kintone:inquiries:12").client_id == "G-1005"
    assert client.find_client_by_reference("kintone:inquiries:13") is None


# -- history -------------------------------------------------------------------------------------


def test_history_is_read_into_troubles_sites_turnover_and_staff_counts(gstaff, client):
    gstaff.get(f"{BASE}/clients/G-1001/history", json=HISTORY)

    history = client.get_history("G-1001")

    assert history == ClientHistory(
        "G-1001",
        troubles=[TroubleEntry(date(2024, 6, 10), "労務トラブル", "残業時間の認識相違")],
        work_sites=[WorkSite("東京物流センター", date(2027, 4, 1)), WorkSite("千葉倉庫", None)],
        turnover_rate=Decimal("0.18"),
        current_staff=4,
        past_staff=12,
    )


def test_history_of_a_client_without_data_reads_as_empty(gstaff, client):
    gstaff.get(f"{BASE}/clients/G-1002/history",
               json={"client_id": "G-1002", "troubles": [], "work_sites": [], "turnover_rate": None,
                     "current_staff": 0, "past_staff": 0})

    assert client.get_history("G-1002") == ClientHistory("G-1002")


def test_history_of_an_unknown_client_is_not_found(gstaff, client):
    gstaff.get(f"{BASE}/clients/G-9999/history", status=404,
               json={"code": "not_found", "message": "no such client"})

    with pytest.raises(GStaffNotFound) as caught:
        client.get_history("G-9999")
    assert (caught.value.status, caught.value.code) == (404, "not_found")


# -- dispatch workers and assignments --------------------------------------------------------


def test_a_worker_is_read_with_employment_type_and_birth_date(gstaff, client):
    gstaff.get(f"{BASE}/staff/S-2001", json={"staff_id": "S-2001", "employment_type": "indefinite",
                                             "birth_date": "1966-12-02"})
    gstaff.get(f"{BASE}/staff/S-2002", json={"staff_id": "S-2002", "employment_type": "fixed_term",
                                             "birth_date": None, "former_employers": [
                                                 {"client_id": "G-1001", "left_on": "2026-03-31"},
                                                 {"client_id": "G-1002", "left_on": "2020-09-30",
                                                  "mandatory_retirement": True}]})

    assert client.get_staff("S-2001") == StaffMember("S-2001", EmploymentType.INDEFINITE, date(1966, 12, 2))
    assert client.get_staff("S-2002") == StaffMember("S-2002", EmploymentType.FIXED_TERM, None, [
        FormerEmployment("G-1001", date(2026, 3, 31)), FormerEmployment("G-1002", date(2020, 9, 30), True)])


def test_an_unknown_worker_is_not_found_and_an_unknown_employment_type_is_a_protocol_error(gstaff, client):
    gstaff.get(f"{BASE}/staff/S-9999", status=404, json={"code": "not_found", "message": "no such staff"})
    with pytest.raises(GStaffNotFound):
        client.get_staff("S-9999")
    gstaff.get(f"{BASE}/staff/S-2003", json={"staff_id": "S-2003", "employment_type": "part_time",
                                             "birth_date": None})
    with pytest.raises(GStaffProtocolError):
        client.get_staff("S-2003")
    gstaff.calls.reset()  # the second answer is outside the document on purpose
    gstaff.get(f"{BASE}/staff/S-2001", json={"staff_id": "S-2001", "employment_type": "fixed_term",
                                             "birth_date": "1990-04-15"})
    client.get_staff("S-2001")


def test_assignments_are_read_with_site_unit_period_and_exemption(gstaff, client):
    gstaff.get(f"{BASE}/clients/G-1001/assignments", json={"client_id": "G-1001", "assignments": [
        {"staff_id": "S-2001", "work_site": "東京物流センター", "organization_unit": "物流課",
         "start_on": "2025-12-01", "end_on": "2026-11-30", "reference": "kintone-contracts-3"},
        {"staff_id": "S-2002", "work_site": "千葉倉庫", "organization_unit": "出荷課",
         "start_on": "2024-04-01", "end_on": "2025-03-31", "reference": None, "period_limited": False},
    ]})

    assert client.get_assignments("G-1001") == [
        Assignment("S-2001", "東京物流センター", "物流課", date(2025, 12, 1), date(2026, 11, 30),
                   reference="kintone-contracts-3"),
        Assignment("S-2002", "千葉倉庫", "出荷課", date(2024, 4, 1), date(2025, 3, 31), period_limited=False),
    ]


def test_assignments_of_an_unknown_client_are_not_found(gstaff, client):
    gstaff.get(f"{BASE}/clients/G-9999/assignments", status=404,
               json={"code": "not_found", "message": "no such client"})
    with pytest.raises(GStaffNotFound):
        client.get_assignments("G-9999")


# -- writes ----------------------------------------------------------------------------------


def test_register_posts_the_written_out_name_and_our_reference(gstaff, client):
    created = {"client_id": "G-1005", "name": "有限会社はじめて製作所", "corporate_number": None,
               "phone": "06-0000-0000", "address": None, "reference": "kintone:inquiries:3"}
    gstaff.post(f"{BASE}/clients", status=201, json=created)

    registered = client.register_client(NewClient(name="㈲はじめて製作所", reference="kintone:inquiries:3",
                                                  phone="06-0000-0000"))

    assert registered.client_id == "G-1005" and registered.reference == "kintone:inquiries:3"
    assert sent_json(gstaff.calls[0]) == {"reference": "kintone:inquiries:3", "name": "有限会社はじめて製作所",
                                          "phone": "06-0000-0000"}


def test_a_repeated_registration_returns_the_first_client(gstaff, client):
    first = dict(SAMPLE_CLIENT, client_id="G-1005", reference="kintone:inquiries:3")
    gstaff.post(f"{BASE}/clients", status=200, json=first)

    again = client.register_client(NewClient(name="株式会社サンプル物流", reference="kintone:inquiries:3",
                                             corporate_number="9234567890123"))

    assert again.client_id == "G-1005"


def test_share_order_posts_the_order_and_returns_the_order_id(gstaff, client):
    gstaff.post(f"{BASE}/orders", status=201, json={"order_id": "O-77", "reference": "kintone:orders:5"})

    order_id = client.share_order(SharedOrder("kintone:orders:5", "G-1001", "入出荷スタッフ", "ピッキング",
                                              date(2026, 12, 1), Decimal("1900")))

    assert order_id == "O-77"
    assert sent_json(gstaff.calls[0]) == {"reference": "kintone:orders:5", "client_id": "G-1001",
                                          "title": "入出荷スタッフ", "job_description": "ピッキング",
                                          "start_on": "2026-12-01", "billing_rate": "1900"}


def test_archive_contract_sends_the_file_its_hash_and_its_retention_date(gstaff, client):
    pdf = b"%PDF-1.7 signed \x00\xff"
    gstaff.post(f"{BASE}/contracts", status=201,
                json={"archive_id": "A-9", "reference": "kintone:contracts:7", "retention_until": "2032-03-31"})

    archive_id = client.archive_contract(ArchivedContract("kintone:contracts:7", "G-1001", "個別契約書.pdf", pdf,
                                                          date(2032, 3, 31), "個別契約"))

    assert archive_id == "A-9"
    body = sent_json(gstaff.calls[0])
    assert base64.b64decode(body["content_base64"]) == pdf
    assert body["sha256"] == hashlib.sha256(pdf).hexdigest()
    assert (body["retention_until"], body["contract_kind"], body["content_type"]) == (
        "2032-03-31", "個別契約", "application/pdf")
    assert "search_keys" not in body  # none given


def test_an_archived_contract_carries_the_search_keys_of_the_electronic_books_act(gstaff, client):
    gstaff.post(f"{BASE}/contracts", status=201,
                json={"archive_id": "A-10", "reference": "kintone:contracts:8", "retention_until": "2034-05-31"})

    client.archive_contract(ArchivedContract("kintone:contracts:8", "G-1001", "基本契約書.pdf", b"%PDF",
                                             date(2034, 5, 31), "基本契約", transaction_date=date(2026, 11, 24),
                                             amount=Decimal("1200000"), counterparty="株式会社サンプル物流"))
    client.archive_contract(ArchivedContract("kintone:contracts:8", "G-1001", "基本契約書.pdf", b"%PDF",
                                             date(2034, 5, 31), "基本契約", transaction_date=date(2026, 11, 24),
                                             counterparty="株式会社サンプル物流"))

    first, second = (sent_json(call)["search_keys"] for call in gstaff.calls)
    assert first == {"transaction_date": "2026-11-24", "amount": "1200000", "counterparty": "株式会社サンプル物流"}
    assert second["amount"] is None


def test_extend_retention_puts_the_wanted_date_and_returns_the_date_the_archive_keeps(gstaff, client):
    gstaff.put(f"{BASE}/contracts/A-10/retention",
               json={"archive_id": "A-10", "reference": "kintone:contracts:8", "retention_until": "2035-05-31"})

    kept = client.extend_retention("A-10", "kintone:contracts:8", date(2034, 5, 31))

    assert kept == date(2035, 5, 31)  # the service keeps its later date: never shortened
    assert sent_json(gstaff.calls[0]) == {"reference": "kintone:contracts:8", "retention_until": "2034-05-31"}


def test_extending_another_references_archive_is_a_data_error(gstaff, client, sleeps):
    gstaff.put(f"{BASE}/contracts/A-10/retention", status=409,
               json={"code": "conflict", "message": "reference does not name this archive"})

    with pytest.raises(GStaffDataError) as caught:
        client.extend_retention("A-10", "kintone:contracts:9", date(2034, 5, 31))

    assert (caught.value.status, len(gstaff.calls), sleeps) == (409, 1, [])


# -- errors and retries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, "invalid_request", GStaffDataError),
        (401, "unauthorized", GStaffConfigError),
        (403, "forbidden", GStaffConfigError),
        (404, "not_found", GStaffNotFound),
    ],
)
def test_each_refusal_becomes_its_typed_error_and_is_not_retried(gstaff, client, sleeps, status, code,
                                                                  error_class):
    gstaff.post(f"{BASE}/orders", status=status, json={"code": code, "message": "client_id is unknown"})

    with pytest.raises(error_class) as caught:
        client.share_order(SharedOrder("kintone:orders:5", "G-1", "入出荷スタッフ"))

    assert (caught.value.status, caught.value.code) == (status, code)
    assert len(gstaff.calls) == 1 and sleeps == []


def test_a_get_is_retried_through_maintenance_and_honours_retry_after(gstaff, client, sleeps):
    gstaff.get(f"{BASE}/clients/G-1001/history", status=503, json=UNAVAILABLE, headers={"Retry-After": "3"})
    gstaff.get(f"{BASE}/clients/G-1001/history", json=HISTORY)

    assert client.get_history("G-1001").past_staff == 12
    assert len(sleeps) == 1 and sleeps[0] >= 3


def test_retries_stop_after_the_budget_and_leave_the_rest_to_the_job(gstaff, sleeps):
    client = LiveGStaffClient(BASE, API_KEY, max_attempts=2, sleep=sleeps)
    gstaff.get(f"{BASE}/clients/G-1001/history", status=503, json=UNAVAILABLE)

    with pytest.raises(GStaffTransientError) as caught:
        client.get_history("G-1001")

    assert caught.value.status == 503
    assert len(gstaff.calls) == 2


def test_a_429_becomes_rate_limited_with_its_retry_after(gstaff, sleeps):
    client = LiveGStaffClient(BASE, API_KEY, max_attempts=1, sleep=sleeps)
    gstaff.get(f"{BASE}/clients/G-1001/history", status=429, json={"code": "rate_limited", "message": "slow down"},
               headers={"Retry-After": "20"})

    with pytest.raises(GStaffRateLimited) as caught:
        client.get_history("G-1001")

    assert caught.value.retry_after == 20.0


def test_a_registration_after_a_5xx_is_not_repeated_by_the_client(gstaff, client, sleeps):
    gstaff.post(f"{BASE}/clients", status=500, json={"code": "internal_error", "message": "failed"})

    with pytest.raises(GStaffTransientError):
        client.register_client(NewClient(name="株式会社新規", reference="kintone:inquiries:9"))

    assert len(gstaff.calls) == 1 and sleeps == []  # it may have been saved: the flow looks first


def test_a_registration_turned_away_with_429_is_repeated(gstaff, client, sleeps):
    gstaff.post(f"{BASE}/clients", status=429, json={"code": "rate_limited", "message": "slow down"},
                headers={"Retry-After": "1"})
    gstaff.post(f"{BASE}/clients", status=201, json=dict(SAMPLE_CLIENT, client_id="G-7", reference="kintone:inquiries:9"))

    assert client.register_client(NewClient(name="株式会社新規", reference="kintone:inquiries:9")).client_id == "G-7"
    assert len(gstaff.calls) == 2 and sleeps[0] >= 1


def test_a_registration_whose_answer_timed_out_is_not_repeated_by_the_client(gstaff, client):
    gstaff.post(f"{BASE}/clients", body=requests.ReadTimeout("read timed out"))

    with pytest.raises(GStaffConnectionError):
        client.register_client(NewClient(name="株式会社新規", reference="kintone:inquiries:9"))

    assert len(gstaff.calls) == 1


def test_a_registration_whose_connection_never_opened_is_repeated(gstaff, client):
    refused = NewConnectionError(None, "Failed to establish a new connection: refused")
    gstaff.post(f"{BASE}/clients", body=requests.ConnectionError(MaxRetryError(None, "/clients", refused)))
    gstaff.post(f"{BASE}/clients", status=201, json=dict(SAMPLE_CLIENT, client_id="G-7", reference="kintone:inquiries:9"))

    assert client.register_client(NewClient(name="株式会社新規", reference="kintone:inquiries:9")).client_id == "G-7"


@pytest.mark.off_contract
def test_an_html_page_from_a_proxy_is_transient_and_keeps_no_html(gstaff, sleeps):
    client = LiveGStaffClient(BASE, API_KEY, max_attempts=1, sleep=sleeps)
    gstaff.get(f"{BASE}/clients/G-1/history", status=502, body="<html><body>Bad Gateway</body></html>",
               content_type="text/html")

    with pytest.raises(GStaffTransientError) as caught:
        client.get_history("G-1")

    assert "<" not in str(caught.value) and "text/html" in str(caught.value)


@pytest.mark.off_contract
def test_an_answer_outside_the_contract_is_a_protocol_error(gstaff, client):
    gstaff.get(f"{BASE}/clients/G-1/history", json={"client_id": "G-1", "troubles": "none"})

    with pytest.raises(GStaffProtocolError, match=r"gstaff-openapi\.yaml"):
        client.get_history("G-1")


# -- configuration and secrets ---------------------------------------------------------------


@pytest.mark.parametrize(("url", "key"), [("gstaff.example", API_KEY), (BASE, ""), (BASE, "key with space")])
def test_a_bad_url_or_key_is_a_config_error(url, key):
    with pytest.raises(GStaffConfigError) as caught:
        LiveGStaffClient(url, key)
    assert API_KEY not in str(caught.value)


def _everything_printed_about(error: BaseException | None) -> str:
    printed = ""
    while error is not None:
        printed += str(error) + repr(error) + "".join(traceback.format_exception_only(error))
        error = error.__cause__ or error.__context__
    return printed


@pytest.mark.off_contract
@pytest.mark.parametrize(
    "answer",
    [
        {"status": 401, "json": {"code": "unauthorized", "message": "bad key"}},
        {"status": 503, "body": "<html>down</html>", "content_type": "text/html"},
        {"body": requests.ReadTimeout("read timed out")},
        {"body": requests.exceptions.InvalidHeader(f"Invalid header value b'Bearer {API_KEY}'")},
    ],
)
def test_the_api_key_appears_in_no_error_and_no_repr(gstaff, sleeps, answer):
    client = LiveGStaffClient(BASE, API_KEY, max_attempts=1, sleep=sleeps)
    gstaff.get(f"{BASE}/clients/G-1/history", **answer)

    with pytest.raises(Exception) as caught:
        client.get_history("G-1")

    assert API_KEY not in _everything_printed_about(caught.value)
    assert API_KEY not in repr(client) + str(client)


# -- reps (seed A-2) ---------------------------------------------------------------------------


def test_rep_workloads_asks_once_per_fifty_codes_and_fills_unknown_reps_with_zeros(gstaff, client):
    from connectors.gstaff.interface import RepWorkload

    gstaff.get(f"{BASE}/reps/workload", json={"reps": [{"code": "sato", "current_staff": 12, "current_clients": 3}]},
               match=[matchers.query_param_matcher({"codes": "sato,suzuki"})])

    loads = client.rep_workloads(["sato", "suzuki", "sato"])

    assert loads == {"sato": RepWorkload("sato", 12, 3), "suzuki": RepWorkload("suzuki", 0, 0)}
    assert len(gstaff.calls) == 1


# -- the order's life (seed) ------------------------------------------------------------


def test_update_order_puts_the_new_content_with_its_change_key(gstaff, client):
    gstaff.put(f"{BASE}/orders/O-77", json={"order_id": "O-77", "reference": "kintone:orders:5"})

    client.update_order("O-77", SharedOrder("kintone:orders:5", "G-1001", "入出荷スタッフ", "検品",
                                            date(2026, 12, 7), Decimal("2000")), "0123abcd")

    assert sent_json(gstaff.calls[0]) == {"reference": "kintone:orders:5", "change_key": "0123abcd",
                                          "title": "入出荷スタッフ", "job_description": "検品",
                                          "start_on": "2026-12-07", "billing_rate": "2000"}


def test_close_order_posts_the_closing_date(gstaff, client):
    gstaff.post(f"{BASE}/orders/O-77/close", json={"order_id": "O-77", "reference": "kintone:orders:5"})

    client.close_order("O-77", "kintone:orders:5", date(2027, 3, 31))

    assert sent_json(gstaff.calls[0]) == {"reference": "kintone:orders:5", "closed_on": "2027-03-31"}


def test_share_individual_contract_sends_the_contract_data_and_returns_its_id(gstaff, client):
    from connectors.gstaff.interface import SharedIndividualContract

    gstaff.post(f"{BASE}/individual-contracts", status=201,
                json={"contract_id": "C-5", "reference": "kintone:contracts:7:0123abcd"})

    contract_id = client.share_individual_contract(SharedIndividualContract(
        "kintone:contracts:7:0123abcd", "G-1001", "派遣 太郎", date(2026, 12, 1), date(2027, 3, 31),
        order_id="O-77", work_location="東京物流センター", wage="時給1,500円"))

    assert contract_id == "C-5"
    assert sent_json(gstaff.calls[0]) == {
        "reference": "kintone:contracts:7:0123abcd", "client_id": "G-1001", "staff_name": "派遣 太郎",
        "dispatch_start": "2026-12-01", "dispatch_end": "2027-03-31", "order_id": "O-77",
        "work_location": "東京物流センター", "wage": "時給1,500円"}
