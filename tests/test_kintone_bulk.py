"""kintone's bulk writes: PUT records.json, PUT records/status.json (≤ 100 each) and bulkRequest.json
(≤ 20 requests, all or none), in the live client (``responses``, the documented shapes), the fake
(atomic: a refused item rolls back the whole call) and the loopback kintone server.

Shapes (reference/kintone.md §2.2, §2.5): PUT records.json ``{app, records: [{id, record, revision}]}``
→ ``{records: [{id, revision}]}``; PUT records/status.json ``{app, records: [{id, action, assignee?,
revision?}]}`` → ``{records: [{id, revision}]}``; POST bulkRequest.json ``{requests: [{method, api,
payload}]}`` → ``{results: [...]}``, refused as ``{results: [{}, {code, id, message}, {}]}`` with the
refused request's place (kintone/js-sdk ``KintoneRestAPIError.buildDataFromBulkRequestResults``).
"""

from __future__ import annotations

import json

import pytest
import responses
from responses import matchers

from connectors.kintone.errors import KintoneRevisionConflict, KintoneStatusConflict, KintoneValidationError
from connectors.kintone.fake import FakeKintone
from connectors.kintone.interface import BulkWrite, RecordUpdate, StatusAction
from connectors.kintone.live import LiveKintoneClient
from tests.kintone_server import KintoneServer

BASE = "https://example.cybozu.com"
API = f"{BASE}/k/v1"
TOKEN_ORDERS = "OOOOtokenForOrdersxxxxxxxxxxxxxxxxxxxxx"
TOKEN_CLIENTS = "CCCCtokenForClientsxxxxxxxxxxxxxxxxxxxx"
CONFLICT = {"code": "GAIA_CO02", "id": "1505999166-897850006",
            "message": "指定したrevisionは最新ではありません。ほかのユーザーがレコードを更新した可能性があります。"}


def live(**kw) -> LiveKintoneClient:
    return LiveKintoneClient(BASE, {"3": [TOKEN_ORDERS], "1": [TOKEN_CLIENTS]}, sleep=lambda s: None, **kw)


@responses.activate
def test_update_records_sends_each_record_with_its_revision():
    responses.put(f"{API}/records.json", json={"records": [{"id": "7", "revision": "4"}, {"id": "9", "revision": "2"}]},
                  match=[matchers.json_params_matcher({"app": "3", "records": [
                      {"id": "7", "record": {"受付日": {"value": "2026-12-02"}}, "revision": "3"},
                      {"id": "9", "record": {"受付日": {"value": "2026-12-02"}}, "revision": "1"}]}),
                         matchers.header_matcher({"X-Cybozu-API-Token": TOKEN_ORDERS})])
    revisions = live().update_records("3", [RecordUpdate("7", {"受付日": {"value": "2026-12-02"}}, "3"),
                                            RecordUpdate("9", {"受付日": {"value": "2026-12-02"}}, "1")])
    assert revisions == ["4", "2"]


@responses.activate
def test_update_statuses_sends_the_documented_body():
    responses.put(f"{API}/records/status.json", json={"records": [{"id": "1", "revision": "3"}]},
                  match=[matchers.json_params_matcher({"app": "3", "records": [
                      {"id": "1", "action": "上長承認依頼", "assignee": "sato", "revision": "1"}]})])
    assert live().update_statuses("3", [StatusAction("1", "上長承認依頼", "sato", "1")]) == ["3"]


@responses.activate
def test_a_stale_revision_in_a_bulk_write_is_a_conflict_and_retried_never():
    responses.put(f"{API}/records/status.json", json=CONFLICT, status=409)
    with pytest.raises(KintoneRevisionConflict):
        live().update_statuses("3", [StatusAction("1", "上長承認依頼", "sato", "1")])
    assert len(responses.calls) == 1


@responses.activate
def test_more_than_100_records_or_20_requests_are_refused_before_any_request():
    client = live()
    with pytest.raises(KintoneValidationError):
        client.update_statuses("3", [StatusAction(str(i), "x") for i in range(101)])
    with pytest.raises(KintoneValidationError):
        client.update_records("3", [])
    with pytest.raises(KintoneValidationError):
        client.bulk_request([BulkWrite("3", (StatusAction("1", "x"),))] * 21)
    assert len(responses.calls) == 0


@responses.activate
def test_bulk_request_groups_writes_of_two_apps_with_both_tokens():
    responses.post(f"{API}/bulkRequest.json",
                   json={"results": [{"records": [{"id": "1", "revision": "3"}]},
                                     {"records": [{"id": "5", "revision": "8"}]}]},
                   match=[matchers.json_params_matcher({"requests": [
                       {"method": "PUT", "api": "/k/v1/records/status.json",
                        "payload": {"app": "3", "records": [{"id": "1", "action": "上長承認依頼", "revision": "1"}]}},
                       {"method": "PUT", "api": "/k/v1/records.json",
                        "payload": {"app": "1", "records": [{"id": "5", "record": {"与信状態": {"value": "承認"}},
                                                             "revision": "7"}]}}]}),
                          matchers.header_matcher({"X-Cybozu-API-Token": f"{TOKEN_ORDERS},{TOKEN_CLIENTS}"})])
    out = live().bulk_request([BulkWrite("3", (StatusAction("1", "上長承認依頼", revision="1"),)),
                               BulkWrite("1", (RecordUpdate("5", {"与信状態": {"value": "承認"}}, "7"),))])
    assert out == [["3"], ["8"]]


@responses.activate
def test_guest_space_bulk_requests_name_the_guest_api():
    responses.post(f"{BASE}/k/guest/4/v1/bulkRequest.json", json={"results": [{"records": [{"id": "1", "revision": "3"}]}]},
                   match=[matchers.json_params_matcher({"requests": [
                       {"method": "PUT", "api": "/k/guest/4/v1/records/status.json",
                        "payload": {"app": "3", "records": [{"id": "1", "action": "a"}]}}]}, strict_match=False)])
    assert live(guest_space_id="4").bulk_request([BulkWrite("3", (StatusAction("1", "a"),))]) == [["3"]]


@responses.activate
def test_a_refused_bulk_request_names_the_request_kintone_refused():
    responses.post(f"{API}/bulkRequest.json", status=409, json={"results": [{}, CONFLICT, {}]})
    writes = [BulkWrite("3", (StatusAction(str(i), "上長承認依頼", revision="1"),)) for i in range(3)]
    with pytest.raises(KintoneRevisionConflict) as caught:
        live().bulk_request(writes)
    assert caught.value.request_index == 1
    assert caught.value.code == "GAIA_CO02" and caught.value.request_id == CONFLICT["id"]
    assert "(request 2)" in str(caught.value)
    assert len(responses.calls) == 1  # a conflict is decided again by the caller, never repeated here


# -- the fake: all or none ------------------------------------------------------------------

@pytest.fixture
def fake(mappings) -> FakeKintone:
    return FakeKintone.from_mappings(mappings)


def _orders(fake: FakeKintone, n: int) -> list[str]:
    return [fake.seed("3", {"案件名": f"order {i}"}) for i in range(n)]


def test_fake_bulk_action_with_one_stale_revision_changes_nothing(fake):
    a, b = _orders(fake, 2)
    with pytest.raises(KintoneRevisionConflict):
        fake.update_statuses("3", [StatusAction(a, "上長承認依頼", "sato", "1"), StatusAction(b, "上長承認依頼", "sato", "9")])
    assert fake.record_values("3", a)["ステータス"] == "未処理"
    assert fake.record_values("3", a)["$revision"] == "1"
    assert fake.calls[("update_statuses", "3")] == 1


def test_fake_bulk_request_rolls_back_every_request_and_names_the_refused_one(fake):
    a, b, c = _orders(fake, 3)
    client = fake.seed("1", {"会社名": "株式会社サンプル"})
    writes = [BulkWrite("1", (RecordUpdate(client, {"与信状態": {"value": "承認"}}, "1"),)),
              BulkWrite("3", (StatusAction(a, "上長承認依頼", "sato", "1"), StatusAction(b, "上長承認依頼", "sato", "1"))),
              BulkWrite("3", (StatusAction(c, "上長承認依頼", "sato", "1"), StatusAction(a, "上長承認依頼", "sato", "3")))]
    with pytest.raises(KintoneStatusConflict) as caught:  # a was moved by request 2 already
        fake.bulk_request(writes)
    assert caught.value.request_index == 2
    assert [fake.record_values("3", r)["ステータス"] for r in (a, b, c)] == ["未処理"] * 3
    assert fake.record_values("1", client)["与信状態"] != "承認"
    assert fake.record_values("1", client)["$revision"] == "1"
    assert fake.bulk_request(writes[:2]) == [["2"], ["3", "3"]]
    assert fake.record_values("3", b)["ステータス"] == "上長承認待ち"


def test_fake_bulk_update_writes_every_record_and_raises_each_revision_by_one(fake):
    a, b = _orders(fake, 2)
    assert fake.update_records("3", [RecordUpdate(a, {"案件名": {"value": "x"}}, "1"),
                                     RecordUpdate(b, {"案件名": {"value": "y"}})]) == ["2", "2"]
    assert fake.record_values("3", b)["案件名"] == "y"


# -- the loopback server: the live client over HTTP -------------------------------------------

def test_live_client_through_the_loopback_server_gets_kintones_bulk_answers(fake):
    a, b = _orders(fake, 2)
    with KintoneServer(fake, tokens={"3": TOKEN_ORDERS}) as server:
        client = LiveKintoneClient(server.url, {"3": [TOKEN_ORDERS]}, sleep=lambda s: None)
        writes = [BulkWrite("3", (StatusAction(a, "上長承認依頼", "sato", "1"),)),
                  BulkWrite("3", (StatusAction(b, "上長承認依頼", "sato", "7"),))]
        with pytest.raises(KintoneRevisionConflict) as caught:
            client.bulk_request(writes)
        assert caught.value.request_index == 1
        assert fake.record_values("3", a)["ステータス"] == "未処理"
        assert client.bulk_request(writes[:1]) == [["3"]]
        assert client.update_statuses("3", [StatusAction(b, "上長承認依頼", "sato", "1")]) == ["3"]
        assert client.update_records("3", [RecordUpdate(a, {"案件名": {"value": "z"}}, "3")]) == ["4"]
        assert server.count("POST", "bulkRequest") == 2
    assert fake.record_values("3", a)["案件名"] == "z"
    assert json.loads(json.dumps(fake.record_values("3", b)["作業者"])) == [{"code": "sato", "name": "sato"}]


@responses.activate
def test_a_bulk_call_answered_with_a_5xx_is_not_repeated_blindly():
    # kintone may have run it: the page job decides again on a fresh read instead
    from connectors.kintone.errors import KintoneUnavailable

    responses.post(f"{API}/bulkRequest.json", status=503, json={"code": "GAIA_UN03", "id": "x", "message": "busy"})
    with pytest.raises(KintoneUnavailable):
        live().bulk_request([BulkWrite("3", (StatusAction("1", "a", revision="1"),))])
    assert len(responses.calls) == 1


@responses.activate
def test_a_bulk_call_turned_away_at_the_gate_is_repeated():
    responses.put(f"{API}/records/status.json", status=429,
                  json={"code": "GAIA_TO04", "id": "x", "message": "too many"})
    responses.put(f"{API}/records/status.json", json={"records": [{"id": "1", "revision": "3"}]})
    assert live().update_statuses("3", [StatusAction("1", "a", revision="1")]) == ["3"]
    assert len(responses.calls) == 2


# -- adds inside a bulkRequest (POST records.json as one of its requests) ------------------------------
#
# kintone's bulkRequest takes Add Records too: ``{"method": "POST", "api": "/k/v1/records.json",
# "payload": {app, records}}``, answered ``{"ids": [...], "revisions": [...]}`` in its place of
# ``results`` (kintone/js-sdk rest-api-client ``addAllRecordsWithBulkRequest``); 20 of them: 2,000 records,
# all or none.

@responses.activate
def test_bulk_request_adds_records_with_post_records_json_and_returns_their_ids():
    from connectors.kintone.interface import NewRecord

    responses.post(f"{API}/bulkRequest.json",
                   json={"results": [{"ids": ["11", "12"], "revisions": ["1", "1"]},
                                     {"records": [{"id": "5", "revision": "8"}]}]},
                   match=[matchers.json_params_matcher({"requests": [
                       {"method": "POST", "api": "/k/v1/records.json",
                        "payload": {"app": "3", "records": [{"案件名": {"value": "a"}}, {"案件名": {"value": "b"}}]}},
                       {"method": "PUT", "api": "/k/v1/records.json",
                        "payload": {"app": "1", "records": [{"id": "5", "record": {"与信状態": {"value": "承認"}},
                                                             "revision": "7"}]}}]})])
    out = live().bulk_request([BulkWrite("3", (NewRecord({"案件名": {"value": "a"}}), NewRecord({"案件名": {"value": "b"}}))),
                               BulkWrite("1", (RecordUpdate("5", {"与信状態": {"value": "承認"}}, "7"),))])
    assert out == [["11", "12"], ["8"]]


def test_fake_bulk_request_refused_after_an_add_adds_nothing(fake):
    from connectors.kintone.interface import NewRecord

    a = _orders(fake, 1)[0]
    before = set(fake.apps["3"].records)
    writes = [BulkWrite("3", (NewRecord({"案件名": {"value": "new"}}),)),
              BulkWrite("3", (StatusAction(a, "上長承認依頼", "sato", "9"),))]  # a stale revision
    with pytest.raises(KintoneRevisionConflict) as caught:
        fake.bulk_request(writes)
    assert caught.value.request_index == 1
    assert set(fake.apps["3"].records) == before
    [ids] = fake.bulk_request(writes[:1])
    assert fake.record_values("3", ids[0])["案件名"] == "new"


def test_live_client_adds_through_a_bulk_request_on_the_loopback_server(fake):
    from connectors.kintone.interface import NewRecord

    with KintoneServer(fake, tokens={"3": TOKEN_ORDERS}) as server:
        client = LiveKintoneClient(server.url, {"3": [TOKEN_ORDERS]}, sleep=lambda s: None)
        out = client.bulk_request([BulkWrite("3", tuple(NewRecord({"案件名": {"value": f"o{i}"}}) for i in range(100))),
                                   BulkWrite("3", (NewRecord({"案件名": {"value": "last"}}),))])
        assert [len(ids) for ids in out] == [100, 1]
        assert server.count("POST", "bulkRequest", status=200) == 1
    assert [fake.record_values("3", i)["案件名"] for i in out[1]] == ["last"]
    assert len(set(out[0]) | set(out[1])) == 101
