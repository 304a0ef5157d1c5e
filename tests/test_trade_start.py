"""06_2 取引開始・契約書類締結: opened after the credit approval; a 定形外 contract goes to legal
first; approved, the client is ready to trade. Fake kintone, real Redis."""

from __future__ import annotations

import pytest

from connectors.kintone import KintoneStatusConflict
from flows import order_registration, workflow
from tests.people import (
    CLIENTS,
    TUESDAY_MORNING,
    WORKFLOW,
    applications,
    approve_as_manager,
    fill_in,
    held_order,
    new_client,
    status_of,
    submit,
)


@pytest.fixture(autouse=True)
def tuesday(ctx):
    ctx.clock = lambda: TUESDAY_MORNING


@pytest.fixture
def approved_client(ctx, kintone):
    """A client whose 06_1 was just approved; returns (client id, 06_1 id, 06_2 id)."""
    client = new_client(kintone)
    order_registration.run(ctx, "orders", held_order(kintone, client))
    [credit] = applications(kintone, "06_1")
    fill_in(kintone, credit["$id"])
    submit(kintone, credit["$id"])
    approve_as_manager(kintone, credit["$id"])
    workflow.run(ctx, "workflow", credit["$id"])
    [trade] = applications(kintone, "06_2")
    return client, credit["$id"], trade["$id"]


def _run_to_manager_approval(ctx, kintone, application_id):
    submit(kintone, application_id)
    assert workflow.run(ctx, "workflow", application_id) == "waiting_for_manager"
    approve_as_manager(kintone, application_id)
    return workflow.run(ctx, "workflow", application_id)


def test_credit_approval_opens_the_06_2_application_for_the_same_rep(approved_client, kintone):
    client, credit_id, trade_id = approved_client

    trade = kintone.record_values(WORKFLOW, trade_id)
    assert trade["申請種別"] == "06_2 取引開始・契約書類締結"
    assert trade["件名"] == "06_2_【取引開始】有限会社はじめて製作所契約書類締結申請書"
    assert trade["顧客レコード番号"] == client and trade["ステータス"] == "作成中"
    assert [u["code"] for u in trade["申請者"]] == ["sato"] and [u["code"] for u in trade["上長"]] == ["tanaka"]
    assert f"稟議 #{trade_id}" in kintone.comment_texts(WORKFLOW, credit_id)[-1]


def test_approved_06_2_makes_the_client_ready_to_trade_and_tells_the_rep(approved_client, ctx, kintone):
    client, _credit_id, trade_id = approved_client
    kintone.update_record(WORKFLOW, trade_id, {"定形外契約書": {"value": "無"}})

    assert _run_to_manager_approval(ctx, kintone, trade_id) == "trade_approved"

    assert status_of(kintone, WORKFLOW, trade_id) == "承認"
    assert kintone.record_values(CLIENTS, client)["取引状態"] == "取引可"
    [comment] = kintone.apps[WORKFLOW].comments[trade_id]
    assert "基本契約書の発行を依頼" in comment.text and [m.code for m in comment.mentions] == ["sato"]
    assert workflow.run(ctx, "workflow", trade_id) == "nothing_to_do"
    assert len(kintone.comment_texts(WORKFLOW, trade_id)) == 1


def test_nonstandard_contract_goes_to_legal_before_the_manager(approved_client, ctx, kintone):
    client, _credit_id, trade_id = approved_client
    kintone.update_record(WORKFLOW, trade_id, {"定形外契約書": {"value": "有"}})

    with pytest.raises(KintoneStatusConflict):  # kintone offers 法務確認依頼, not 申請
        submit(kintone, trade_id)
    kintone.update_status(WORKFLOW, trade_id, "法務確認依頼", assignee="legal-ito")
    with pytest.raises(KintoneStatusConflict):  # legal must record its result first
        kintone.update_status(WORKFLOW, trade_id, "法務確認OK", assignee="tanaka")
    kintone.update_record(WORKFLOW, trade_id, {"法務確認結果": {"value": "確認済"}})
    kintone.update_status(WORKFLOW, trade_id, "法務確認OK", assignee="tanaka")

    assert workflow.run(ctx, "workflow", trade_id) == "waiting_for_manager"
    approve_as_manager(kintone, trade_id)
    assert workflow.run(ctx, "workflow", trade_id) == "trade_approved"
    assert kintone.record_values(CLIENTS, client)["取引状態"] == "取引可"
    assert "法務が確認した内容" in kintone.comment_texts(WORKFLOW, trade_id)[-1]


def test_nonstandard_contract_that_skipped_legal_is_sent_back(approved_client, ctx, kintone):
    _client, _credit_id, trade_id = approved_client
    kintone.update_record(WORKFLOW, trade_id, {"定形外契約書": {"value": "無"}})
    submit(kintone, trade_id)
    kintone.update_record(WORKFLOW, trade_id, {"定形外契約書": {"value": "有"}})  # changed after submitting

    assert workflow.run(ctx, "workflow", trade_id) == "sent_back"

    assert status_of(kintone, WORKFLOW, trade_id) == "作成中"
    assert "法務の確認が必要" in kintone.comment_texts(WORKFLOW, trade_id)[-1]


def test_06_2_for_a_client_without_credit_approval_is_sent_back(ctx, kintone):
    client = new_client(kintone, credit="審査中")
    trade_id = kintone.seed(WORKFLOW, {
        "申請種別": "06_2 取引開始・契約書類締結", "件名": "取引開始", "顧客レコード番号": client,
        "申請者": [{"code": "sato"}], "上長": [{"code": "tanaka"}], "申請日": "2026-11-24", "定形外契約書": "無"})
    submit(kintone, trade_id)

    assert workflow.run(ctx, "workflow", trade_id) == "sent_back"

    text = kintone.comment_texts(WORKFLOW, trade_id)[-1]
    assert "与信が承認されていません（与信状態：審査中）" in text
    assert "先に稟議「06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書」の承認を受けてください" in text
    assert kintone.record_values(CLIENTS, client)["取引状態"] != "取引可"


def test_06_2_without_a_choice_for_the_nonstandard_contract_is_sent_back(approved_client, ctx, kintone):
    _client, _credit_id, trade_id = approved_client
    submit(kintone, trade_id)

    assert workflow.run(ctx, "workflow", trade_id) == "sent_back"
    assert "・定形外契約書" in kintone.comment_texts(WORKFLOW, trade_id)[-1]


def test_rejected_06_2_tells_the_applicant_once_and_leaves_the_client_not_ready(approved_client, ctx, kintone):
    client, _credit_id, trade_id = approved_client
    fill_in(kintone, trade_id)
    kintone.update_record(WORKFLOW, trade_id, {"定形外契約書": {"value": "無"}})
    submit(kintone, trade_id)
    kintone.update_status(WORKFLOW, trade_id, "否認")

    assert workflow.run(ctx, "workflow", trade_id) == "trade_rejected"
    assert workflow.run(ctx, "workflow", trade_id) == "nothing_to_do"

    assert kintone.record_values(CLIENTS, client)["取引状態"] != "取引可"
    [comment] = kintone.apps[WORKFLOW].comments[trade_id]
    assert f"取引開始の稟議「06_2_【取引開始】有限会社はじめて製作所契約書類締結申請書」（稟議 #{trade_id}）は否認されました" in comment.text
    assert "基本契約書は発行できません" in comment.text
    assert [m.code for m in comment.mentions] == ["sato"]
