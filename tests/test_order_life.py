"""The order's life after acceptance (seed A-5, A-7): a kintone webhook in (real Redis, real RQ worker),
the kintone record and comments and the fake G-Staff out."""

from __future__ import annotations

import json

import pytest

from connectors.gstaff.fake import FakeGStaff
from kgbridge.samples import COMPLETE_CONTRACT, COMPLETE_ORDER, notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import visited
from webhooks import create_app

CLIENTS, ORDERS, CONTRACTS = "1", "3", "5"


@pytest.fixture
def gstaff(ctx) -> FakeGStaff:
    fake = FakeGStaff.with_samples()
    ctx.gstaff = fake
    return fake


@pytest.fixture
def client(settings, redis_conn, ctx, gstaff):
    return create_app(settings, connection=redis_conn).test_client()


def post(client, kintone, app: str, record_id: str, event_type: str):
    body = notification(kintone, app, record_id, event_type=event_type)
    response = client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                           content_type="application/json")
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def accepted(client, kintone, gstaff, drain):
    """An order approved by the 上長 (受付済), shared to G-Staff; returns its record id."""
    customer = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認", "Gスタッフ顧客ID": "G-1001"})
    visited(kintone, customer)
    rid = kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=customer))
    post(client, kintone, ORDERS, rid, "ADD_RECORD")
    drain()
    kintone.update_status(ORDERS, rid, "承認")
    post(client, kintone, ORDERS, rid, "UPDATE_STATUS")
    drain()
    post(client, kintone, ORDERS, rid, "UPDATE_RECORD")  # our write-back of 受付日
    drain()
    return rid


def test_acceptance_tells_the_rep_the_next_steps_of_the_seed(accepted, kintone):
    [text] = kintone.comment_texts(ORDERS, accepted)
    assert "受付済になりました（受付日：2026年12月1日（火））" in text
    assert "1. 基本契約書ひな形を依頼企業へ送付してください" in text
    # two business days after Tuesday 12-01
    assert "派遣先にメールで確認し、2026年12月3日（木）までに揃えてください" in text
    assert "スタッフさんが決まったら" in text and "「マーケ発報依頼」" in text


def test_an_edit_of_an_accepted_order_reaches_g_staff_once_per_change(accepted, client, kintone, gstaff, drain):
    [(order_id, _)] = gstaff.orders.values()
    assert gstaff.order_updates == {}  # acceptance itself is not an edit

    kintone.update_record(ORDERS, accepted, {"請求単価": {"value": "2100"}})
    post(client, kintone, ORDERS, accepted, "UPDATE_RECORD")
    post(client, kintone, ORDERS, accepted, "UPDATE_RECORD")  # delivered twice
    drain()
    kintone.update_record(ORDERS, accepted, {"勤務時間": {"value": "8:00〜17:00"}})  # not kept by G-Staff
    post(client, kintone, ORDERS, accepted, "UPDATE_RECORD")
    drain()

    [(_, updated)] = gstaff.order_updates[order_id]
    assert str(updated.billing_rate) == "2100"
    notes = [t for t in kintone.comment_texts(ORDERS, accepted) if "変更をGスタッフに反映しました" in t]
    assert len(notes) == 1 and order_id in notes[0]

    kintone.update_record(ORDERS, accepted, {"業務内容": {"value": "入出荷検品"}})
    post(client, kintone, ORDERS, accepted, "UPDATE_RECORD")
    drain()
    assert len(gstaff.order_updates[order_id]) == 2


def test_closing_the_order_closes_it_in_g_staff_once(accepted, client, kintone, gstaff, drain):
    [(order_id, _)] = gstaff.orders.values()

    kintone.update_status(ORDERS, accepted, "終了")
    post(client, kintone, ORDERS, accepted, "UPDATE_STATUS")
    post(client, kintone, ORDERS, accepted, "UPDATE_STATUS")
    drain()

    assert order_id in gstaff.closed_orders
    assert gstaff.calls["close_order"] == 1
    assert any("Gスタッフのオーダー" in t and "終了にしました" in t for t in kintone.comment_texts(ORDERS, accepted))


# -- 個別契約: staff decided → G-Staff and marketing (seed A-5) ------------------------------------------


def drafting_contract(kintone, **changes) -> str:
    values = dict(COMPLETE_CONTRACT, **changes)
    return kintone.seed(CONTRACTS, {k: v for k, v in values.items() if v is not None}, status="作成中")


def test_marketing_is_asked_to_issue_once_the_staff_are_decided(client, kintone, gstaff, drain):
    rid = drafting_contract(kintone)

    kintone.update_status(CONTRACTS, rid, "マーケ発報依頼")
    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS")
    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS")
    drain()

    [(shared_id, shared)] = gstaff.individual_contracts.values()
    assert (shared.client_id, shared.staff_name, shared.work_location) == ("G-1001", "派遣 太郎",
                                                                          "東京物流センター（東京都江東区）")
    assert str(shared.dispatch_start) == "2026-12-01" and str(shared.dispatch_end) == "2027-03-31"
    assert shared.commander == "物流課 課長 鈴木 次郎（電話：03-0000-0004）"  # its parts, as the contract prints it
    assert kintone.record_values(CONTRACTS, rid)["Gスタッフ個別契約ID"] == shared_id
    [comment] = kintone.apps[CONTRACTS].comments[rid]
    assert [m.code for m in comment.mentions] == ["yoshida"]
    assert "スタッフさんが決まりましたので、個別契約の発報をお願いします。" in comment.text
    assert "派遣期間：2026年12月1日（火）〜2027年3月31日（水）" in comment.text
    assert gstaff.calls["share_individual_contract"] == 1


def test_the_request_to_issue_is_refused_until_the_staff_are_decided(client, kintone, gstaff, drain):
    from connectors.kintone import KintoneStatusConflict

    rid = drafting_contract(kintone, 派遣スタッフ=None)
    with pytest.raises(KintoneStatusConflict):  # kintone's own condition on マーケ発報依頼
        kintone.update_status(CONTRACTS, rid, "マーケ発報依頼")

    # Where kintone's condition is not set, the flow refuses it and marketing is told not to issue.
    kintone.apps[CONTRACTS].records[rid]["ステータス"]["value"] = "発報待ち"
    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS")
    drain()

    assert gstaff.individual_contracts == {}
    [comment] = kintone.apps[CONTRACTS].comments[rid]
    assert {m.code for m in comment.mentions} == {"sato", "yoshida"}
    assert "「派遣スタッフ」が未入力のため、マーケ発報依頼はお受けできません。" in comment.text
