"""Client lookup in G-Staff for new inquiries and clients: a kintone webhook in (real Redis,
real RQ worker), the kintone record and G-Staff out, with the fake kintone and fake G-Staff."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from connectors.gstaff.errors import GStaffConfigError, GStaffTransientError
from connectors.gstaff.fake import FakeGStaff
from connectors.gstaff.interface import ClientHistory, ClientSummary, WorkSite
from connectors.kintone import KintoneRevisionConflict
from flows import client_lookup
from flows.client_lookup import RecordBusy
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import without_flow
from webhooks import create_app

CLIENTS, INQUIRIES = "1", "2"
SATO = [{"code": "sato", "name": "佐藤 一郎"}]
TODAY = datetime.fromisoformat("2026-11-24T10:00:00+09:00")


@pytest.fixture
def mappings(mappings):
    """Only client_lookup runs on inquiries here; routing (tests/test_inquiry_routing.py) is tested on its own."""
    return without_flow(mappings, "inquiry_routing")


@pytest.fixture
def gstaff(ctx) -> FakeGStaff:
    fake = FakeGStaff.with_samples()
    ctx.gstaff = fake
    ctx.clock = lambda: TODAY
    return fake


@pytest.fixture
def client(settings, redis_conn, ctx, gstaff):
    return create_app(settings, connection=redis_conn).test_client()


def inquiry(kintone, **values) -> str:
    record = {"受付経路": "HP", "受付日時": "2026-11-24T00:30:00Z", "担当者名": "山田 花子",
              "問い合わせ内容": "倉庫の軽作業スタッフを3名お願いしたい", "担当営業": SATO}
    record.update(values)
    return kintone.seed(INQUIRIES, record)


def known_inquiry(kintone, **values) -> str:
    return inquiry(kintone, 会社名="㈱サンプル物流", 法人番号="9234567890123", 電話番号="03-0000-0000", **values)


def unknown_inquiry(kintone, **values) -> str:
    return inquiry(kintone, 会社名="(有)はじめて製作所", 電話番号="０６－１２３４－５６７８", **values)


def post(client, kintone, app: str, record_id: str, event_type: str = "ADD_RECORD"):
    body = notification(kintone, app, record_id, event_type=event_type)
    response = client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                           content_type="application/json")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def values(kintone, app: str, record_id: str) -> dict:
    return kintone.record_values(app, record_id)


# -- the user's level: a webhook in, the record out ------------------------------------------


def test_new_inquiry_for_a_known_client_ends_with_its_history_on_the_record_and_one_comment(
        client, kintone, gstaff, drain):
    rid = known_inquiry(kintone)

    assert post(client, kintone, INQUIRIES, rid)["jobs"] == 2  # the receiver's mappings: + inquiry_routing
    drain()

    record = values(kintone, INQUIRIES, rid)
    assert record["Gスタッフ顧客ID"] == "G-1001"
    assert record["過去トラブル"] == "2024年6月10日（月） 労務トラブル：残業時間の認識相違"
    assert record["抵触日"] == "2027-04-01"
    assert record["離職率"] == "18.0"
    [comment] = kintone.apps[INQUIRIES].comments[rid]
    assert [m.code for m in comment.mentions] == ["sato"]
    assert "G-1001" in comment.text and "法人番号で照合" in comment.text
    assert "・過去トラブルあり：1件（直近 2024年6月10日（月） 労務トラブル）" in comment.text
    assert "・抵触日が6か月以内：東京物流センター 2027年4月1日（木）" in comment.text
    assert "・離職率 18%（基準の15%を上回っています）" in comment.text
    assert "現在 4名、過去 12名" in comment.text
    assert gstaff.registrations == []


def test_our_own_write_back_notification_changes_nothing(client, kintone, gstaff, drain):
    rid = known_inquiry(kintone)
    post(client, kintone, INQUIRIES, rid)
    drain()
    revision = values(kintone, INQUIRIES, rid)["$revision"]

    post(client, kintone, INQUIRIES, rid, "UPDATE_RECORD")  # kintone tells us about our own update
    kintone.calls.clear()
    drain()

    assert values(kintone, INQUIRIES, rid)["$revision"] == revision
    assert len(kintone.comment_texts(INQUIRIES, rid)) == 1
    assert sum(kintone.calls.values()) == 1  # one read, nothing written


def test_new_inquiry_for_an_unknown_client_registers_it_once_even_when_the_job_runs_twice(
        client, ctx, kintone, gstaff, drain):
    rid = unknown_inquiry(kintone)

    post(client, kintone, INQUIRIES, rid)
    drain()
    client_lookup.run(ctx, "inquiries", rid)  # a replay of the same job
    post(client, kintone, INQUIRIES, rid, "UPDATE_RECORD")  # our own write-back's notification
    drain()

    [registered] = gstaff.registrations
    assert registered.name == "有限会社はじめて製作所"
    assert registered.reference == f"kintone:inquiries:{rid}"
    assert registered.phone == "06-1234-5678"
    new_id = next(c.client_id for c in gstaff.clients.values() if c.reference == registered.reference)
    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == new_id
    # A new client has no history, so nothing for the rep to act on: no comment (tell_linked "risky").
    assert kintone.comment_texts(INQUIRIES, rid) == []


@pytest.mark.parametrize("phone", ["06-1234-5678", ""])
def test_a_registration_saved_by_gstaff_whose_answer_was_lost_is_not_repeated(
        client, kintone, gstaff, drain, phone):
    rid = inquiry(kintone, 会社名="有限会社はじめて製作所", 電話番号=phone)
    gstaff.lose_answer_of("register_client")  # G-Staff saves, then the answer times out

    post(client, kintone, INQUIRIES, rid)
    drain()  # the job fails transiently and is retried by RQ

    assert gstaff.calls["register_client"] == 1
    [registered] = gstaff.registrations
    new_id = next(c.client_id for c in gstaff.clients.values() if c.reference == registered.reference)
    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == new_id
    assert values(kintone, INQUIRIES, rid)["$revision"] == "2"  # written once


def test_a_registration_not_found_by_the_search_is_found_by_its_reference(ctx, kintone, gstaff):
    rid = unknown_inquiry(kintone)
    earlier = ClientSummary("G-5000", "有限会社はじめて製作所 大阪", reference=f"kintone:inquiries:{rid}")
    gstaff.add_client(earlier)  # saved by an earlier run, under a name the search does not match

    assert client_lookup.run(ctx, "inquiries", rid) == "registered_new_client"

    assert gstaff.registrations == []
    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == "G-5000"


def test_same_name_in_two_places_lists_the_candidates_and_writes_nothing(client, kintone, gstaff, drain):
    rid = inquiry(kintone, 会社名="株式会社 みどり運輸", 電話番号="03-9999-9999")

    post(client, kintone, INQUIRIES, rid)
    drain()

    record = values(kintone, INQUIRIES, rid)
    assert record["Gスタッフ顧客ID"] == "" and record["$revision"] == "1"
    [text] = kintone.comment_texts(INQUIRIES, rid)
    assert "・G-1003 株式会社みどり運輸（電話 011-000-0000／北海道札幌市）" in text
    assert "・G-1004 みどり運輸株式会社（電話 092-000-0000／福岡県福岡市）" in text
    assert "「Gスタッフ顧客ID」に入力して保存してください" in text
    assert gstaff.registrations == []


def test_choosing_a_candidate_by_entering_its_id_brings_its_history_in(client, kintone, gstaff, drain):
    rid = inquiry(kintone, 会社名="株式会社みどり運輸")
    post(client, kintone, INQUIRIES, rid)
    drain()

    kintone.update_record(INQUIRIES, rid, {"Gスタッフ顧客ID": {"value": "G-1003"}})  # a person chooses
    post(client, kintone, INQUIRIES, rid, "UPDATE_RECORD")
    drain()
    post(client, kintone, INQUIRIES, rid, "UPDATE_RECORD")  # our own write-back's notification
    drain()

    record = values(kintone, INQUIRIES, rid)
    assert (record["過去トラブル"], record["離職率"], record["抵触日"]) == ("なし", "30.0", None)
    texts = kintone.comment_texts(INQUIRIES, rid)
    assert len(texts) == 2
    assert "G-1003 の情報をGスタッフから取り込みました" in texts[1] and "・離職率 30%" in texts[1]


def test_a_name_match_with_another_phone_is_for_a_person_to_confirm(ctx, kintone, gstaff):
    rid = inquiry(kintone, 会社名="株式会社テスト商事", 電話番号="03-1111-2222")

    assert client_lookup.run(ctx, "inquiries", rid) == "told_candidates"

    assert "・G-1002 株式会社テスト商事（電話 045-000-0000）" in kintone.comment_texts(INQUIRIES, rid)[0]
    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == ""


def test_name_and_phone_written_differently_still_find_the_client(ctx, kintone, gstaff):
    rid = inquiry(kintone, 会社名="（株）テスト商事", 電話番号="０４５ー０００ー００００")

    assert client_lookup.run(ctx, "inquiries", rid) == "linked_existing_client"

    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == "G-1002"


def test_a_client_without_any_risk_gets_its_history_written_and_no_comment(ctx, kintone, gstaff):
    """tell_linked "risky", the default (seed A-1 ◇: the rep checks 過去トラブル, 抵触日 and 離職率, which are
    on the record): a comment mentioning the rep is kept for a client with something to act on."""
    rid = inquiry(kintone, 会社名="株式会社テスト商事", 電話番号="045-000-0000")

    assert client_lookup.run(ctx, "inquiries", rid) == "linked_existing_client"

    record = values(kintone, INQUIRIES, rid)
    assert (record["Gスタッフ顧客ID"], record["過去トラブル"], record["抵触日"], record["離職率"]) == (
        "G-1002", "なし", None, "5.0")
    assert kintone.comment_texts(INQUIRIES, rid) == []
    assert kintone.calls[("add_comment", INQUIRIES)] == 0


def test_with_tell_linked_every_a_client_without_any_risk_is_said_to_have_none(ctx, kintone, gstaff, mappings):
    mappings["inquiries"].model_extra["client_lookup"]["tell_linked"] = "every"
    rid = inquiry(kintone, 会社名="（株）テスト商事", 電話番号="０４５ー０００ー００００")
    new = unknown_inquiry(kintone)

    assert client_lookup.run(ctx, "inquiries", rid) == "linked_existing_client"
    assert client_lookup.run(ctx, "inquiries", new) == "registered_new_client"

    [text] = kintone.comment_texts(INQUIRIES, rid)
    assert "G-1002" in text and "会社名と電話番号で照合" in text
    assert "【リスク】特記事項はありません。" in text and "・" not in text.split("【リスク】")[1].split("\n")[0]
    assert [m.code for m in kintone.apps[INQUIRIES].comments[rid][0].mentions] == ["sato"]
    assert values(kintone, INQUIRIES, rid)["離職率"] == "5.0"
    [registered] = kintone.comment_texts(INQUIRIES, new)
    assert "新規顧客として登録しました" in registered


# -- bad input: a message on the record, nothing else ------------------------------------------


def test_an_invalid_corporate_number_is_a_message_on_the_record_and_nothing_else(client, kintone, gstaff, drain):
    rid = inquiry(kintone, 会社名="株式会社サンプル物流", 法人番号="9234567890124")

    post(client, kintone, INQUIRIES, rid)
    drain()
    post(client, kintone, INQUIRIES, rid, "UPDATE_RECORD")  # someone edits something else
    drain()

    [text] = kintone.comment_texts(INQUIRIES, rid)
    assert "「法人番号」の「9234567890124」は正しい法人番号ではありません（先頭のチェックデジット" in text
    assert values(kintone, INQUIRIES, rid)["$revision"] == "1"
    assert sum(gstaff.calls.values()) == 0


def test_correcting_the_corporate_number_looks_the_client_up(client, kintone, gstaff, drain):
    rid = inquiry(kintone, 会社名="株式会社サンプル物流", 法人番号="92345678901")
    post(client, kintone, INQUIRIES, rid)
    drain()

    kintone.update_record(INQUIRIES, rid, {"法人番号": {"value": "9234567890123"}})
    post(client, kintone, INQUIRIES, rid, "UPDATE_RECORD")
    drain()

    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == "G-1001"
    texts = kintone.comment_texts(INQUIRIES, rid)
    assert "13桁の数字ではありません" in texts[0] and "G-1001" in texts[1]


@pytest.mark.parametrize("name", ["", "株式会社"])
def test_an_inquiry_without_a_company_name_asks_for_one(ctx, kintone, gstaff, name):
    rid = inquiry(kintone, 会社名=name, 電話番号="03-0000-0000")

    assert client_lookup.run(ctx, "inquiries", rid) == "told_missing_company_name"
    assert client_lookup.run(ctx, "inquiries", rid) == "already_told"

    [text] = kintone.comment_texts(INQUIRIES, rid)
    assert "「会社名」が入力されていないため" in text
    assert sum(gstaff.calls.values()) == 0


def test_a_valid_corporate_number_unknown_to_gstaff_without_a_name_asks_for_the_name(ctx, kintone, gstaff):
    rid = inquiry(kintone, 法人番号="7000012050002")

    assert client_lookup.run(ctx, "inquiries", rid) == "told_missing_company_name"
    assert gstaff.registrations == []


def test_an_entered_id_unknown_to_gstaff_is_a_message(ctx, kintone, gstaff):
    rid = known_inquiry(kintone, Gスタッフ顧客ID="G-9999")

    assert client_lookup.run(ctx, "inquiries", rid) == "told_unknown_client_id"

    assert "「G-9999」はGスタッフに見つかりません" in kintone.comment_texts(INQUIRIES, rid)[0]
    assert values(kintone, INQUIRIES, rid)["$revision"] == "1"


def test_a_registration_gstaff_refuses_is_a_message_not_a_failed_job(ctx, kintone, gstaff):
    from connectors.gstaff.errors import GStaffDataError

    rid = unknown_inquiry(kintone)
    gstaff.fail_next("register_client", GStaffDataError("name is too long", status=400, code="invalid_request"))

    assert client_lookup.run(ctx, "inquiries", rid) == "told_registration_rejected"
    assert "理由コード：invalid_request" in kintone.comment_texts(INQUIRIES, rid)[0]


# -- the Clients app -------------------------------------------------------------------------


def test_a_new_client_record_gets_the_same_lookup(client, kintone, gstaff, drain):
    rid = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "法人番号": "9234567890123", "担当営業": SATO})

    post(client, kintone, CLIENTS, rid)
    drain()

    record = values(kintone, CLIENTS, rid)
    assert (record["Gスタッフ顧客ID"], record["抵触日"], record["離職率"]) == ("G-1001", "2027-04-01", "18.0")
    assert len(kintone.comment_texts(CLIENTS, rid)) == 1


def test_a_new_client_is_registered_with_its_address(ctx, kintone, gstaff):
    rid = kintone.seed(CLIENTS, {"会社名": "株式会社あたらし電機", "法人番号": "7000012050002",
                                 "住所": "東京都千代田区霞が関3-1-1", "電話番号": "03-3581-4161"})

    assert client_lookup.run(ctx, "clients", rid) == "registered_new_client"

    [registered] = gstaff.registrations
    assert (registered.corporate_number, registered.address) == ("7000012050002", "東京都千代田区霞が関3-1-1")


# -- reliability --------------------------------------------------------------------------------


def test_a_revision_conflict_rereads_and_still_comments_once(ctx, kintone, gstaff):
    rid = known_inquiry(kintone)
    kintone.fail_next("update_record", KintoneRevisionConflict("changed", status=409, code="GAIA_CO02"))

    assert client_lookup.run(ctx, "inquiries", rid) == "linked_existing_client"

    assert values(kintone, INQUIRIES, rid)["Gスタッフ顧客ID"] == "G-1001"
    assert len(kintone.comment_texts(INQUIRIES, rid)) == 1
    assert kintone.calls[("get_record", INQUIRIES)] == 2


def test_gstaff_down_fails_the_job_for_a_retry_and_changes_nothing(ctx, kintone, gstaff):
    rid = known_inquiry(kintone)
    gstaff.fail_next("find_clients", GStaffTransientError("unavailable", status=503))

    with pytest.raises(GStaffTransientError):
        client_lookup.run(ctx, "inquiries", rid)
    assert values(kintone, INQUIRIES, rid)["$revision"] == "1"
    assert kintone.comment_texts(INQUIRIES, rid) == []

    assert client_lookup.run(ctx, "inquiries", rid) == "linked_existing_client"


def test_a_record_another_job_is_deciding_for_is_retried_later(ctx, kintone, gstaff):
    rid = known_inquiry(kintone)
    ctx.ledger.claim(f"client_lookup:claim:inquiries:{rid}", 60)

    with pytest.raises(RecordBusy):
        client_lookup.run(ctx, "inquiries", rid)
    assert sum(kintone.calls.values()) == 0


def test_a_claim_left_by_a_killed_run_of_the_same_job_is_taken_over(ctx, kintone, gstaff):
    """RQ runs one job id at a time: a claim holding this job's own id was left by its earlier run,
    killed before it could release it; the retry goes on instead of waiting the claim out."""
    rid = known_inquiry(kintone)
    ctx.job_id = f"client_lookup-inquiries-{rid}-r1"
    ctx.ledger.claim(f"client_lookup:claim:inquiries:{rid}", 60, value=ctx.job_id)

    assert client_lookup.run(ctx, "inquiries", rid) == "linked_existing_client"
    assert len(kintone.comment_texts(INQUIRIES, rid)) == 1

    ctx.ledger.claim(f"client_lookup:claim:inquiries:{rid}", 60, value="client_lookup-inquiries-1-r2")
    with pytest.raises(RecordBusy):  # another job's claim still holds
        client_lookup.run(ctx, "inquiries", rid)


def test_without_gstaff_configured_the_job_fails_with_the_reason(ctx, kintone):
    rid = known_inquiry(kintone)

    with pytest.raises(GStaffConfigError, match="KGBRIDGE_GSTAFF_BASE_URL"):
        client_lookup.run(ctx, "inquiries", rid)


def test_kintone_calls_per_outcome_are_the_fewest_the_api_allows(ctx, kintone, gstaff):
    outcomes = {}
    for name, rid in (("found", known_inquiry(kintone)), ("registered", unknown_inquiry(kintone)),
                      ("candidates", inquiry(kintone, 会社名="みどり運輸")),
                      ("invalid", inquiry(kintone, 会社名="x", 法人番号="1"))):
        kintone.calls.clear()
        client_lookup.run(ctx, "inquiries", rid)
        outcomes[name] = sum(kintone.calls.values())
        if name == "found":
            kintone.calls.clear()
            client_lookup.run(ctx, "inquiries", rid)
            outcomes["linked"] = sum(kintone.calls.values())

    # found: a client with a risk (G-1001), told; registered: nothing to tell (read, write).
    assert outcomes == {"found": 3, "linked": 1, "registered": 2, "candidates": 2, "invalid": 2}


# -- the risk rules -----------------------------------------------------------------------------


def test_a_conflict_date_exactly_at_the_horizon_is_called_out_and_a_day_later_is_not():
    from flows.client_risk import RiskRules, risk_lines

    today, rules = date(2026, 8, 31), RiskRules(conflict_horizon_months=6)
    at = ClientHistory("G", work_sites=[WorkSite("本社", date(2027, 2, 28))])  # 31 Aug + 6 months
    after = ClientHistory("G", work_sites=[WorkSite("本社", date(2027, 3, 1))])

    assert risk_lines(at, today, rules) == ["抵触日が6か月以内：本社 2027年2月28日（日）"]
    assert risk_lines(after, today, rules) == []


def test_turnover_is_called_out_only_above_the_mappings_threshold(mappings):
    from decimal import Decimal

    from flows.client_risk import RiskRules, risk_lines

    rules = RiskRules.of(mappings["inquiries"].settings("client_lookup"))
    at = ClientHistory("G", turnover_rate=Decimal("0.15"))
    above = ClientHistory("G", turnover_rate=Decimal("0.151"))

    assert rules.turnover_threshold_percent == 15
    assert risk_lines(at, date(2026, 1, 1), rules) == []
    assert risk_lines(above, date(2026, 1, 1), rules) == ["離職率 15.1%（基準の15%を上回っています）"]


def test_a_passed_conflict_date_is_called_out_and_shown_when_none_is_to_come():
    from flows.client_risk import RiskRules, history_values, risk_lines

    history = ClientHistory("G", work_sites=[WorkSite("旧工場", date(2025, 4, 1)), WorkSite("本社", None)])

    assert risk_lines(history, date(2026, 1, 1), RiskRules()) == ["抵触日を過ぎた就業場所あり：旧工場 2025年4月1日（火）"]
    assert history_values(history, date(2026, 1, 1))["conflict_date"] == date(2025, 4, 1)


# -- the embedded default's samples --------------------------------------------------------


def test_the_sample_inquiry_webhooks_end_with_a_linked_and_a_registered_client(client, kintone, mappings, gstaff,
                                                                               drain):
    from kgbridge.embedded import SAMPLES
    from kgbridge.samples import seed_embedded

    ids = seed_embedded(kintone, mappings)
    for name in ("known", "new"):
        body = (SAMPLES / f"kintone-inquiry-{name}.json").read_bytes()
        assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=body,
                           content_type="application/json").get_json()["jobs"] == 2  # + inquiry_routing
    drain()

    assert values(kintone, INQUIRIES, ids["inquiry_known"])["Gスタッフ顧客ID"] == "G-1001"
    [registered] = gstaff.registrations
    assert registered.name == "株式会社あおぞら食品" and registered.phone == "048-000-0000"
    assert values(kintone, INQUIRIES, ids["inquiry_new"])["Gスタッフ顧客ID"].startswith("G-")
