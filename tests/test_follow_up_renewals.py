"""Renewals (issue 13): before every 派遣終了日 a renewal-intent check with the staff member and one with
the 指揮命令者 (45 and 30 days, follow_ups.toml); their answer is recorded; the contract's 更新結果 (延長 /
終了 and 終了理由) is chased by the deadline sweep like every other deadline (deadlines.toml
renewal_decision). Dated, frozen-time tests; a webhook in, the kintone records out."""

from __future__ import annotations

import pytest

from flows import deadlines
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import SATO, at, seed
from webhooks import create_app

CONTRACTS, FOLLOW_UPS = "5", "7"


@pytest.fixture
def client(settings, redis_conn, ctx):
    ctx.clock = lambda: at("2026-12-01T10:00")
    return create_app(settings, connection=redis_conn).test_client()


def post(client, kintone, app: str, rid: str, event: str, drain) -> None:
    body = notification(kintone, app, rid, event)
    assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", json=body).status_code == 200
    drain()


def conclude(client, kintone, mappings, drain, **values) -> str:
    fields = {"contract_kind": "個別契約", "client": "株式会社サンプル物流", "sales_rep": SATO,
              "staff_name": "山田 花子", "staff_ids": "S-3001", "commander": "物流課 高橋課長",
              "dispatch_start": "2026-12-01", "dispatch_end": "2027-03-31"}
    fields.update(values)
    rid = seed(kintone, mappings, "contracts", status="締結済", **fields)
    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS", drain)
    return rid


def follow_up(kintone, title: str) -> dict:
    [found] = [kintone.record_values(FOLLOW_UPS, rid) for rid in kintone.apps[FOLLOW_UPS].records
               if kintone.record_values(FOLLOW_UPS, rid)["フォロー名"] == title]
    return found


def test_two_renewal_intent_checks_are_planned_before_the_dispatch_end(client, kintone, mappings, drain):
    conclude(client, kintone, mappings, drain)

    staff = follow_up(kintone, "更新意向確認（スタッフさん）")
    commander = follow_up(kintone, "更新意向確認（指揮命令者）")
    # 2027-03-31 − 45 days = 02-14 (Sunday) → Friday 02-12; − 30 days = Monday 03-01.
    assert (staff["区分"], staff["予定日"]) == ("更新意向確認", "2027-02-12")
    assert (commander["区分"], commander["予定日"]) == ("更新意向確認", "2027-03-01")
    assert staff["派遣スタッフ"] == "山田 花子" and commander["指揮命令者"] == "物流課 高橋課長"
    assert [u["code"] for u in staff["担当者"]] == ["sato"]


def test_a_renewal_check_counts_as_done_only_with_its_answer_and_why(client, kintone, mappings, drain):
    contract_id = conclude(client, kintone, mappings, drain)
    rid = follow_up(kintone, "更新意向確認（スタッフさん）")["$id"]

    kintone.update_record(FOLLOW_UPS, rid, {"実施日": {"value": "2027-02-12"}})
    post(client, kintone, FOLLOW_UPS, rid, "UPDATE_RECORD", drain)
    kintone.update_record(FOLLOW_UPS, rid, {"更新意向": {"value": "終了希望"}})
    post(client, kintone, FOLLOW_UPS, rid, "UPDATE_RECORD", drain)

    first, second = kintone.comment_texts(FOLLOW_UPS, rid)
    assert "「更新意向」が未入力です" in first
    assert "「更新意向」が終了希望のため、「更新意向の理由」を入力してください" in second
    assert kintone.record_values(FOLLOW_UPS, rid)["完了判定"] is None

    kintone.update_record(FOLLOW_UPS, rid, {"更新意向の理由": {"value": "4月から家族の介護で週3日勤務を希望"}})
    post(client, kintone, FOLLOW_UPS, rid, "UPDATE_RECORD", drain)

    assert kintone.record_values(FOLLOW_UPS, rid)["完了判定"] == "完了"
    told = kintone.comment_texts(CONTRACTS, contract_id)[-1]  # where the rep records the 更新結果
    assert f"更新意向確認（スタッフさん）（レコード #{rid}）の結果：「更新意向」終了希望" in told
    assert "4月から家族の介護で週3日勤務を希望" in told and "「更新結果」" in told


def test_an_ended_contract_without_a_listed_reason_is_told_once(client, kintone, mappings, drain):
    rid = conclude(client, kintone, mappings, drain)

    kintone.update_record(CONTRACTS, rid, {"更新結果": {"value": "終了"}})
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)
    kintone.update_record(CONTRACTS, rid, {"終了理由": {"value": "派遣先都合（業務量減少）"}})
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)

    [_, told] = kintone.comment_texts(CONTRACTS, rid)
    assert "「終了理由」が未選択です" in told and "・派遣先都合（直接雇用）" in told


def test_an_undecided_renewal_is_reminded_then_escalated(client, kintone, mappings, drain, ctx):
    rid = conclude(client, kintone, mappings, drain)
    before = len(kintone.comment_texts(CONTRACTS, rid))

    # Due 23 business days before Wed 2027-03-31, counted by hand: 3/22 is the 春分の日 substitute
    # holiday, so the due day is Thu 02-25; the reminder comes 5 business days earlier (02-23 天皇誕生日
    # is skipped): Wed 02-17.
    ctx.clock = lambda: at("2027-02-16T17:00")
    deadlines.sweep(ctx)
    assert len(kintone.comment_texts(CONTRACTS, rid)) == before  # not yet
    for moment in ("2027-02-17T09:00", "2027-02-25T09:00", "2027-02-26T09:00", "2027-03-01T09:00"):
        ctx.clock = lambda moment=moment: at(moment)
        deadlines.sweep(ctx)

    reminder, escalation = kintone.apps[CONTRACTS].comments[rid][before:]
    assert "2月25日（木）" in reminder.text and "「更新結果」（延長・終了）を決めて" in reminder.text
    assert [m.code for m in reminder.mentions] == ["sato"]
    assert [m.code for m in escalation.mentions] == ["sato", "tanaka"]
    assert "契約終了の30日前まで" in escalation.text


def test_a_decided_renewal_is_not_chased(client, kintone, mappings, drain, ctx):
    rid = conclude(client, kintone, mappings, drain, renewal_outcome="延長")
    before = len(kintone.comment_texts(CONTRACTS, rid))

    ctx.clock = lambda: at("2027-02-26T09:00")
    deadlines.sweep(ctx)

    assert len(kintone.comment_texts(CONTRACTS, rid)) == before
