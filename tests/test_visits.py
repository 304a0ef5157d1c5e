"""Visits (seed A-3 「必ず訪問すること」, the A-2 pre-visit checklist, A-6 派遣の仕組み説明): a kintone
webhook in (real Redis, real RQ worker), the order, visit and 顧客管理台帳 records and comments out."""

from __future__ import annotations

import json

import pytest

from flows import order_registration, visit_report
from flows.visit_gate import VisitCheck
from kgbridge.samples import COMPLETE_ORDER, notification
from mappings import MappingError, Mappings
from tests.conftest import WEBHOOK_TOKEN
from tests.records import VISITS_APP, visited
from webhooks import create_app

CLIENTS, ORDERS, WORKFLOW = "1", "3", "4"
TANAKA = [{"code": "tanaka", "name": "田中 部長"}]


@pytest.fixture
def client(settings, redis_conn, ctx):
    return create_app(settings, connection=redis_conn).test_client()


def post(client, kintone, app: str, record_id: str, event_type: str = "ADD_RECORD"):
    body = notification(kintone, app, record_id, event_type=event_type)
    response = client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                           content_type="application/json")
    assert response.status_code == 200, response.get_json()


def new_client(kintone, credit="承認") -> str:
    return kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": credit})


def order_for(kintone, client_id: str) -> str:
    return kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=client_id))


def test_an_order_for_a_client_nobody_visited_waits_and_opens_no_06_1(client, kintone, drain):
    customer = new_client(kintone, credit="未申請")
    rid = order_for(kintone, customer)

    post(client, kintone, ORDERS, rid)
    drain()

    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"
    [text] = kintone.comment_texts(ORDERS, rid)
    assert "【訪問】" in text and "顧客「株式会社サンプル物流」への訪問記録がありません。オーダーの受付前に必ず訪問し" in text
    assert kintone.apps[WORKFLOW].records == {}  # no 06_1 before the visit
    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "未申請"


def test_an_incomplete_visit_names_what_it_lacks(client, kintone, drain):
    customer = new_client(kintone)
    visited(kintone, customer, 教育実施="未確認", 派遣の仕組み説明=None)
    rid = order_for(kintone, customer)

    post(client, kintone, ORDERS, rid)
    drain()

    [text] = kintone.comment_texts(ORDERS, rid)
    assert "次の項目が入力されていません：教育実施、派遣の仕組みの説明" in text
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"


def test_saving_the_visit_reports_to_the_supervisor_fills_the_ledger_and_releases_the_order(client, kintone, drain):
    customer = new_client(kintone)
    rid = order_for(kintone, customer)
    post(client, kintone, ORDERS, rid)
    drain()  # held: no visit yet

    visit = visited(kintone, customer, 顧客="株式会社サンプル物流", 上長=TANAKA)
    post(client, kintone, VISITS_APP, visit)
    drain()
    post(client, kintone, VISITS_APP, visit, "UPDATE_RECORD")  # saved again unchanged
    drain()

    [report] = kintone.apps[VISITS_APP].comments[visit]
    assert [m.code for m in report.mentions] == ["tanaka"]
    assert report.text.startswith("佐藤 一郎さんから訪問記録の報告です。内容をご確認ください。")
    assert "（株式会社サンプル物流、2026年11月20日（金）10:00）" in report.text
    assert "・安全衛生体制：問題なし\n・教育実施：問題なし\n・作業環境：要改善（対応合意済）" in report.text
    assert "・派遣の仕組みの説明：説明済" in report.text
    assert "【訪問記録】\n物流センターの入出荷現場を見学。" in report.text

    ledger = kintone.record_values(CLIENTS, customer)
    assert ledger["最終訪問日"] == "2026-11-20"
    assert ledger["派遣の仕組み説明日"] == "2026-11-20"
    assert ledger["訪問記録要約"].startswith("2026年11月20日（金） 佐藤 一郎（営業訪問 #")
    assert "作業環境：要改善（対応合意済）" in ledger["訪問記録要約"]

    assert kintone.record_values(ORDERS, rid)["ステータス"] == "上長承認待ち"  # released by the visit


def test_a_problem_found_on_the_visit_holds_the_order_for_the_supervisor(client, kintone, drain):
    customer = new_client(kintone)
    visit = visited(kintone, customer, 安全衛生体制="問題あり", 上長=TANAKA)
    rid = order_for(kintone, customer)

    post(client, kintone, VISITS_APP, visit)
    post(client, kintone, ORDERS, rid)
    drain()

    [report] = kintone.comment_texts(VISITS_APP, visit)
    assert "「問題あり」の項目があるため、このお客様のオーダーは受付に進みません。" in report
    [held] = kintone.comment_texts(ORDERS, rid)
    assert "安全衛生体制：問題あり" in held and "上長に判断を仰ぎ" in held
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"


def test_a_visit_with_gaps_tells_the_rep_once(ctx, kintone, mappings):
    customer = new_client(kintone)
    visit = visited(kintone, customer, 個人情報取り扱い="未確認")

    assert visit_report.run(ctx, "visits", visit) == "reported"
    assert visit_report.run(ctx, "visits", visit) == "already_reported"

    to_rep = [c for c in kintone.apps[VISITS_APP].comments[visit] if c.mentions[0].code == "sato"]
    assert len(to_rep) == 1 and "・個人情報取り扱い" in to_rep[0].text
    assert [c.mentions[0].code for c in kintone.apps[VISITS_APP].comments[visit]] == ["tanaka", "sato"]  # directory


def test_the_mapping_can_turn_the_visit_gate_off(ctx, kintone, mappings):
    visits = mappings["visits"]
    off = visits.model_copy(update={"visit_check": {**visits.settings("visit_check"), "orders_need_visit": False}})
    ctx.mappings = Mappings([off if m.key == "visits" else m for m in mappings])
    rid = order_for(kintone, new_client(kintone))

    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"


def test_a_checklist_naming_an_unknown_field_is_refused(mappings):
    visits = mappings["visits"]
    broken = visits.model_copy(update={"visit_check": {**visits.settings("visit_check"), "checklist": ["nope"]}})
    with pytest.raises(MappingError, match="nope"):
        VisitCheck.of(broken)


def test_items_left_for_the_visit_are_asked_for_once_the_visit_is_saved(client, kintone, drain):
    customer = new_client(kintone)
    rid = kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=customer, 就業場所="", 訪問時確認=["就業場所"]))
    post(client, kintone, ORDERS, rid)
    drain()
    [before] = kintone.comment_texts(ORDERS, rid)
    assert "訪問記録がありません" in before and "就業場所" not in before  # waits for the visit, not for the item

    visit = visited(kintone, customer, 顧客="株式会社サンプル物流", 上長=TANAKA)
    post(client, kintone, VISITS_APP, visit)
    drain()

    [_, after] = kintone.comment_texts(ORDERS, rid)
    assert "顧客への訪問が完了したため、「訪問時確認」にしていた次の項目も受付の前に入力が必要です。" in after
    assert "・就業場所" in after and "【訪問】" not in after
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"

    kintone.update_record(ORDERS, rid, {"就業場所": {"value": "東京物流センター（東京都江東区）"}})
    post(client, kintone, ORDERS, rid, "UPDATE_RECORD")
    drain()
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "上長承認待ち"
