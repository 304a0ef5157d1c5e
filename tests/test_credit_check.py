"""06_1 反社・与信チェック: from a held order to an approved (or rejected) client, with the fake
kintone, the fake G-Staff and a real Redis. Jobs run as the worker would run them."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from connectors.gstaff.errors import GStaffTransientError
from connectors.gstaff.fake import FakeGStaff
from connectors.gstaff.interface import ClientHistory, ClientSummary, TroubleEntry
from connectors.kintone import KintoneConnectionError, KintoneStatusConflict
from flows import order_registration, workflow
from flows.applications import OpeningInProgress
from kgbridge.jobs import flow_enqueuer
from tests.people import (
    CLIENTS,
    ORDERS,
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


def _open_for_one_order(ctx, kintone, **client_values):
    client = new_client(kintone, **client_values)
    order = held_order(kintone, client)
    order_registration.run(ctx, "orders", order)
    application = applications(kintone, "06_1")[-1]
    return client, order, application["$id"]


def _approve(ctx, kintone, application_id, **values):
    fill_in(kintone, application_id, **values)
    submit(kintone, application_id)
    workflow.run(ctx, "workflow", application_id)
    approve_as_manager(kintone, application_id)
    return workflow.run(ctx, "workflow", application_id)


# -- opening the application --------------------------------------------------------------

def test_order_for_a_client_without_credit_application_opens_one_06_1_application_and_tells_the_rep(ctx, kintone):
    client = new_client(kintone)
    order = held_order(kintone, client)

    assert order_registration.run(ctx, "orders", order) == "told_rep_missing_items"

    [application] = applications(kintone)
    assert application["申請種別"] == "06_1 反社・与信チェック"
    assert application["件名"] == "06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書"
    assert application["顧客"] == "有限会社はじめて製作所"
    assert application["顧客レコード番号"] == client
    assert application["起票元オーダー"] == order
    assert [u["code"] for u in application["申請者"]] == ["sato"]
    assert [u["code"] for u in application["上長"]] == ["tanaka"]
    assert application["申請日"] == "2026-11-24"
    assert application["ステータス"] == "作成中"
    assert kintone.record_values(CLIENTS, client)["与信状態"] == "審査中"

    [comment] = kintone.apps[ORDERS].comments[order]
    assert [m.code for m in comment.mentions] == ["sato"]
    assert f"与信チェックのため、稟議「06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書」（稟議 #{application['$id']}）を作成しました" in comment.text
    assert "「申請」を実行してください" in comment.text
    assert status_of(kintone, ORDERS, order) == "未処理"


def test_application_is_prefilled_with_labour_risk_from_gstaff(ctx, kintone):
    gstaff = FakeGStaff()
    gstaff.add_client(
        ClientSummary("G-2001", "有限会社はじめて製作所"),
        ClientHistory("G-2001", turnover_rate=Decimal("0.183"), troubles=[
            TroubleEntry(date(2023, 3, 31), "賃金未払い", "残業代の一部未払い（精算済）"),
            TroubleEntry(date(2024, 6, 10), "労務トラブル", "休憩時間の認識相違"),
            TroubleEntry(date(2025, 1, 15), "クレーム", "納期遅延への苦情"),
        ]))
    ctx.gstaff = gstaff

    _client, _order, application_id = _open_for_one_order(ctx, kintone, Gスタッフ顧客ID="G-2001")

    application = kintone.record_values(WORKFLOW, application_id)
    assert application["過去の未払い"] == "2023年3月31日（金） 賃金未払い：残業代の一部未払い（精算済）"
    assert application["労務トラブル"] == "2024年6月10日（月） 労務トラブル：休憩時間の認識相違"
    assert application["離職率"] == "18.3"
    assert kintone.comment_texts(WORKFLOW, application_id) == []


def test_client_unknown_to_gstaff_is_prefilled_as_without_history(ctx, kintone):
    ctx.gstaff = FakeGStaff.with_samples()

    _client, _order, application_id = _open_for_one_order(ctx, kintone)

    application = kintone.record_values(WORKFLOW, application_id)
    assert "登録なし" in application["過去の未払い"] and "登録なし" in application["労務トラブル"]
    assert application["離職率"] == ""


def test_gstaff_outage_opens_the_application_without_history_and_tells_the_rep(ctx, kintone):
    ctx.gstaff = FakeGStaff.with_samples()
    ctx.gstaff.fail_next("find_clients", GStaffTransientError("timeout", status=504))

    _client, _order, application_id = _open_for_one_order(ctx, kintone)

    application = kintone.record_values(WORKFLOW, application_id)
    assert application["過去の未払い"] == "" and application["離職率"] == ""
    [comment] = kintone.apps[WORKFLOW].comments[application_id]
    assert "Gスタッフで確認して入力" in comment.text and [m.code for m in comment.mentions] == ["sato"]


def test_two_orders_of_the_same_client_share_one_application(ctx, kintone):
    client = new_client(kintone)
    first, second = held_order(kintone, client), held_order(kintone, client)

    order_registration.run(ctx, "orders", first)
    order_registration.run(ctx, "orders", second)

    assert len(applications(kintone)) == 1
    assert "審査中" in kintone.comment_texts(ORDERS, second)[0]


def test_running_order_registration_twice_opens_nothing_twice(ctx, kintone):
    client = new_client(kintone)
    order = held_order(kintone, client)

    order_registration.run(ctx, "orders", order)
    order_registration.run(ctx, "orders", order)

    assert len(applications(kintone)) == 1
    assert kintone.calls[("add_record", WORKFLOW)] == 1


def test_no_second_application_while_one_is_open_even_if_the_client_is_reset_to_not_applied(ctx, kintone):
    client, _order, application_id = _open_for_one_order(ctx, kintone)
    kintone.update_record(CLIENTS, client, {"与信状態": {"value": "未申請"}})
    another = held_order(kintone, client)

    order_registration.run(ctx, "orders", another)

    assert len(applications(kintone)) == 1
    assert f"稟議 #{application_id}" in kintone.comment_texts(ORDERS, another)[0]


def test_a_job_racing_another_for_the_same_client_retries_and_finds_its_application(ctx, kintone):
    client = new_client(kintone)
    first, second = held_order(kintone, client), held_order(kintone, client)
    pause = kintone.pause_next("add_record")
    racer = threading.Thread(target=order_registration.run, args=(ctx, "orders", first))
    racer.start()
    assert pause.entered.wait(5)  # the first job is adding the application right now

    with pytest.raises(OpeningInProgress):  # a RetryLater: the worker runs it again shortly
        order_registration.run(ctx, "orders", second)
    pause.resume()
    racer.join(5)
    order_registration.run(ctx, "orders", second)  # the retry

    assert len(applications(kintone)) == 1
    assert kintone.calls[("add_record", WORKFLOW)] == 1


def test_unclear_failure_of_the_add_does_not_open_a_second_application(ctx, kintone):
    client = new_client(kintone)
    order = held_order(kintone, client)
    kintone.lose_answer_of("add_record")  # kintone saved it, but the answer never came back

    with pytest.raises(KintoneConnectionError):
        order_registration.run(ctx, "orders", order)
    order_registration.run(ctx, "orders", order)  # the job's retry

    [application] = applications(kintone)
    assert kintone.calls[("add_record", WORKFLOW)] == 1
    assert f"稟議 #{application['$id']}" in kintone.comment_texts(ORDERS, order)[0]


# -- submission and routing -----------------------------------------------------------------

def test_submission_missing_check_items_is_sent_back_with_the_list(ctx, kintone):
    _client, _order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id, 経営状況="", 離職率="")
    submit(kintone, application_id)

    assert workflow.run(ctx, "workflow", application_id) == "sent_back"

    assert status_of(kintone, WORKFLOW, application_id) == "作成中"
    text = kintone.comment_texts(WORKFLOW, application_id)[-1]
    assert "・経営状況" in text and "・労務リスク：離職率（%）" in text and "遵法性" not in text
    assert "もう一度「申請」" in text


def test_complete_submission_waits_for_the_manager(ctx, kintone):
    _client, _order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id)
    submit(kintone, application_id)

    assert workflow.run(ctx, "workflow", application_id) == "waiting_for_manager"
    assert status_of(kintone, WORKFLOW, application_id) == "申請中"


def test_approved_application_approves_the_client_and_sends_the_held_order_to_the_supervisor(ctx, kintone):
    client, order, application_id = _open_for_one_order(ctx, kintone)
    incomplete = held_order(kintone, client, 募集背景=None)

    assert _approve(ctx, kintone, application_id) == "credit_approved"

    assert status_of(kintone, WORKFLOW, application_id) == "承認"
    record = kintone.record_values(CLIENTS, client)
    assert record["与信状態"] == "承認" and record["反社チェック"] == "問題なし"
    assert status_of(kintone, ORDERS, order) == "上長承認待ち"
    assert status_of(kintone, ORDERS, incomplete) == "未処理"  # held for more than credit
    text = kintone.comment_texts(WORKFLOW, application_id)[-1]
    assert "与信状態を「承認」" in text and "オーダー 1 件" in text
    assert "続けて稟議「06_2_【取引開始】有限会社はじめて製作所契約書類締結申請書」（稟議 #" in text  # the company's own form name


def test_low_rating_goes_to_the_director_and_is_approved_only_after_the_director(ctx, kintone):
    client, order, application_id = _open_for_one_order(ctx, kintone)

    outcome = _approve(ctx, kintone, application_id, 信用調査機関の評価="45", 取締役=[{"code": "yamamoto"}])

    assert outcome == "sent_to_director"
    record = kintone.record_values(WORKFLOW, application_id)
    assert record["ステータス"] == "取締役承認待ち" and [u["code"] for u in record["作業者"]] == ["yamamoto"]
    [ahead] = [c for c in kintone.apps[WORKFLOW].comments[application_id] if "上長承認のあと取締役" in c.text]
    assert "（45）が基準（60）未満" in ahead.text and [m.code for m in ahead.mentions] == ["tanaka", "sato"]
    [note] = [c for c in kintone.apps[WORKFLOW].comments[application_id] if "取締役承認待ちに回しました" in c.text]
    assert "（45）が基準（60）未満" in note.text and [m.code for m in note.mentions] == ["yamamoto"]
    assert kintone.record_values(CLIENTS, client)["与信状態"] == "審査中"
    assert status_of(kintone, ORDERS, order) == "未処理"

    kintone.update_status(WORKFLOW, application_id, "取締役承認")
    assert workflow.run(ctx, "workflow", application_id) == "credit_approved"

    assert kintone.record_values(CLIENTS, client)["与信状態"] == "承認"
    assert status_of(kintone, ORDERS, order) == "上長承認待ち"


def test_kintone_refuses_to_approve_a_low_rating_without_the_director(ctx, kintone):
    client, order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id, 信用調査機関の評価="59", 取締役=[{"code": "yamamoto"}])
    submit(kintone, application_id)
    approve_as_manager(kintone, application_id)

    # Someone tries to approve it before kgbridge routes it to the director.
    with pytest.raises(KintoneStatusConflict):
        kintone.update_status(WORKFLOW, application_id, "決裁")

    assert status_of(kintone, WORKFLOW, application_id) == "上長承認済"
    assert kintone.record_values(CLIENTS, client)["与信状態"] == "審査中"
    assert status_of(kintone, ORDERS, order) == "未処理"


def test_decision_threshold_in_kintone_matches_the_configured_one(ctx, kintone, mappings):
    threshold = mappings["workflow"].settings("credit_check")["director_required_below"]
    outcomes = {}
    for rating in (threshold - 1, threshold):
        _client, _order, application_id = _open_for_one_order(ctx, kintone, 会社名=f"株式会社評点{rating}")
        fill_in(kintone, application_id, 信用調査機関の評価=str(rating), 取締役=[{"code": "yamamoto"}])
        submit(kintone, application_id)
        approve_as_manager(kintone, application_id)
        outcomes[rating] = workflow.run(ctx, "workflow", application_id)

    assert outcomes == {threshold - 1: "sent_to_director", threshold: "credit_approved"}


def test_low_rating_without_a_director_is_sent_back_at_submission(ctx, kintone):
    _client, _order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id, 信用調査機関の評価="30")
    submit(kintone, application_id)

    assert workflow.run(ctx, "workflow", application_id) == "sent_back"
    text = kintone.comment_texts(WORKFLOW, application_id)[-1]
    assert "（30）が基準（60）未満のため、取締役の承認が必要です。「取締役」に承認者を入力してください。" in text


# -- decisions ------------------------------------------------------------------------------

def test_rejected_application_tells_every_rep_with_a_held_order_and_keeps_them_held(ctx, kintone):
    client, order, application_id = _open_for_one_order(ctx, kintone)
    other = held_order(kintone, client, 担当営業=[{"code": "kato", "name": "加藤"}], 案件名="検品スタッフ")
    fill_in(kintone, application_id)
    submit(kintone, application_id)
    kintone.update_status(WORKFLOW, application_id, "否認")

    assert workflow.run(ctx, "workflow", application_id) == "credit_rejected"

    assert kintone.record_values(CLIENTS, client)["与信状態"] == "否認"
    for order_id, rep in ((order, "sato"), (other, "kato")):
        comment = kintone.apps[ORDERS].comments[order_id][-1]
        assert f"稟議「06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書」（稟議 #{application_id}）は否認されました" in comment.text
        assert [m.code for m in comment.mentions] == [rep]
        assert status_of(kintone, ORDERS, order_id) == "未処理"
    assert "検品スタッフ" in kintone.comment_texts(ORDERS, other)[-1]


def test_a_repeated_rejection_notice_tells_nobody_twice(ctx, kintone):
    _client, order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id)
    submit(kintone, application_id)
    kintone.update_status(WORKFLOW, application_id, "否認")
    workflow.run(ctx, "workflow", application_id)
    calls = sum(kintone.calls.values())

    assert workflow.run(ctx, "workflow", application_id) == "nothing_to_do"
    assert len(kintone.comment_texts(ORDERS, order)) == 2  # the 06_1 link, the rejection
    assert sum(kintone.calls.values()) - calls == 1  # the re-read


def test_approval_effects_happen_once_when_the_notification_repeats(ctx, kintone):
    _client, order, application_id = _open_for_one_order(ctx, kintone)
    _approve(ctx, kintone, application_id)
    calls = sum(kintone.calls.values())

    assert workflow.run(ctx, "workflow", application_id) == "nothing_to_do"

    assert sum(kintone.calls.values()) - calls == 1  # the re-read
    assert len(applications(kintone, "06_2")) == 1
    assert kintone.calls[("update_status", ORDERS)] == 1 and status_of(kintone, ORDERS, order) == "上長承認待ち"
    assert len(kintone.comment_texts(WORKFLOW, application_id)) == 2  # G-Staff note, approval


def test_a_crash_midway_through_the_approval_completes_on_retry_without_repeating_anything(ctx, kintone):
    client, order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id)
    submit(kintone, application_id)
    approve_as_manager(kintone, application_id)
    kintone.lose_answer_of("add_record")  # the 06_2 application is saved, the answer lost

    with pytest.raises(KintoneConnectionError):
        workflow.run(ctx, "workflow", application_id)
    assert workflow.run(ctx, "workflow", application_id) == "credit_approved"

    assert len(applications(kintone, "06_2")) == 1
    assert kintone.calls[("update_status", ORDERS)] == 1 and status_of(kintone, ORDERS, order) == "上長承認待ち"
    assert kintone.record_values(CLIENTS, client)["与信状態"] == "承認"


def test_kintone_calls_for_an_approval_are_counted(ctx, kintone, redis_conn, settings):
    ctx.enqueue = flow_enqueuer(redis_conn, settings)  # as in a worker: released orders are their own jobs
    _client, order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id)
    submit(kintone, application_id)
    approve_as_manager(kintone, application_id)
    kintone.calls.clear()

    workflow.run(ctx, "workflow", application_id)

    # application read, 決裁, client read and update, held-order query, 06_2 query and add, comment
    assert sum(kintone.calls.values()) == 8
    [job] = Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).get_jobs()
    assert job.kwargs == {"flow": "order_registration", "app_key": "orders", "record_id": order}


# -- 取引可否基準 and 労務リスク (seed A-4) ------------------------------------------------------

def _manager_approved(ctx, kintone, **values):
    client, order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id, **values)
    submit(kintone, application_id)
    approve_as_manager(kintone, application_id)  # as if the manager approved before kgbridge looked
    return client, order, application_id


@pytest.mark.parametrize("answer", [
    {"反社会的勢力": "該当する"}, {"反社会的勢力": "調査中"}, {"経営状況判定": "懸念あり"},
    {"職場環境判定": "懸念あり"}, {"遵法性判定": "懸念あり"}, {"未払い記録": "あり"}, {"離職率": "15.1"},
])
def test_kintone_refuses_to_approve_any_answer_that_is_not_clear(ctx, kintone, answer):
    client, _order, application_id = _manager_approved(ctx, kintone, **answer)

    with pytest.raises(KintoneStatusConflict):  # someone tries 「決裁」 by hand
        kintone.update_status(WORKFLOW, application_id, "決裁")

    assert status_of(kintone, WORKFLOW, application_id) == "上長承認済"
    assert kintone.record_values(CLIENTS, client)["与信状態"] == "審査中"


def test_kintone_lets_a_clear_application_be_approved_at_the_turnover_threshold(ctx, kintone):
    _client, _order, application_id = _manager_approved(ctx, kintone, 離職率="15")

    kintone.update_status(WORKFLOW, application_id, "決裁")

    assert status_of(kintone, WORKFLOW, application_id) == "承認"


def test_not_even_the_director_can_approve_an_antisocial_answer_in_kintone(ctx, kintone):
    _client, _order, application_id = _open_for_one_order(ctx, kintone)
    kintone.update_record(WORKFLOW, application_id, {"反社会的勢力": {"value": "該当する"}})
    kintone.apps[WORKFLOW].records[application_id]["ステータス"]["value"] = "取締役承認待ち"

    with pytest.raises(KintoneStatusConflict):
        kintone.update_status(WORKFLOW, application_id, "取締役承認")


def test_an_antisocial_answer_after_the_manager_approved_is_rejected_not_approved(ctx, kintone):
    client, order, application_id = _manager_approved(ctx, kintone, 反社会的勢力="該当する")

    assert workflow.run(ctx, "workflow", application_id) == "credit_rejected"

    assert status_of(kintone, WORKFLOW, application_id) == "否認"
    record = kintone.record_values(CLIENTS, client)
    assert record["与信状態"] == "否認" and record["反社チェック"] == "該当あり"
    assert status_of(kintone, ORDERS, order) == "未処理"
    assert applications(kintone, "06_2") == []


def test_an_application_approved_by_hand_against_an_antisocial_answer_does_not_approve_the_client(ctx, kintone):
    client, order, application_id = _open_for_one_order(ctx, kintone)
    fill_in(kintone, application_id, 反社会的勢力="該当する")
    kintone.apps[WORKFLOW].records[application_id]["ステータス"]["value"] = "承認"  # e.g. process settings changed

    assert workflow.run(ctx, "workflow", application_id) == "approval_refused"

    assert kintone.record_values(CLIENTS, client)["与信状態"] == "審査中"
    assert status_of(kintone, ORDERS, order) == "未処理"
    assert "与信状態は「承認」にしていません" in kintone.comment_texts(WORKFLOW, application_id)[-1]


def test_an_unclear_antisocial_answer_approved_by_the_director_is_recorded_as_such_on_the_client(ctx, kintone):
    client, _order, application_id = _open_for_one_order(ctx, kintone)

    outcome = _approve(ctx, kintone, application_id, 反社会的勢力="調査中", 取締役=[{"code": "yamamoto"}])
    assert outcome == "sent_to_director"
    kintone.update_status(WORKFLOW, application_id, "取締役承認")
    assert workflow.run(ctx, "workflow", application_id) == "credit_approved"

    assert kintone.record_values(CLIENTS, client)["反社チェック"] == "要確認"  # from the answer, not a constant


@pytest.mark.parametrize("values, director", [
    ({"未払い記録": "あり"}, "「労務リスク：未払いの記録」が「あり」"),
    ({"離職率": "15.1"}, "「労務リスク：離職率（%）」（15.1%）が基準（15%）を超える"),
    ({"離職率": "15"}, None),
    # 3 years before Tuesday 2026-11-24: the day after that is within, that day itself is not.
    ({"直近労務トラブル日": "2023-11-25"}, "（2023年11月25日（土））が直近3年以内"),
    ({"直近労務トラブル日": "2023-11-24"}, None),
])
def test_labour_risk_over_its_threshold_needs_the_director(ctx, kintone, values, director):
    _client, _order, application_id = _open_for_one_order(ctx, kintone)

    outcome = _approve(ctx, kintone, application_id, 取締役=[{"code": "yamamoto"}], **values)

    if director is None:
        assert outcome == "credit_approved"
    else:
        assert outcome == "sent_to_director"
        assert director in kintone.comment_texts(WORKFLOW, application_id)[-1]


def test_labour_risk_from_gstaff_is_judged_and_shown_to_the_manager_at_submission(ctx, kintone):
    gstaff = FakeGStaff()
    gstaff.add_client(
        ClientSummary("G-2001", "有限会社はじめて製作所"),
        ClientHistory("G-2001", turnover_rate=Decimal("0.183"), troubles=[
            TroubleEntry(date(2023, 3, 31), "賃金未払い", "残業代の一部未払い（精算済）"),
            TroubleEntry(date(2024, 6, 10), "労務トラブル", "休憩時間の認識相違"),
        ]))
    ctx.gstaff = gstaff
    _client, _order, application_id = _open_for_one_order(ctx, kintone, Gスタッフ顧客ID="G-2001")
    prefilled = kintone.record_values(WORKFLOW, application_id)
    assert prefilled["未払い記録"] == "あり" and prefilled["直近労務トラブル日"] == "2024-06-10"
    kept = {k: v for k, v in prefilled.items() if k in ("未払い記録", "直近労務トラブル日", "離職率", "過去の未払い", "労務トラブル")}
    fill_in(kintone, application_id, 取締役=[{"code": "yamamoto"}], **kept)
    submit(kintone, application_id)

    assert workflow.run(ctx, "workflow", application_id) == "waiting_for_manager"

    [shown] = kintone.apps[WORKFLOW].comments[application_id][-1:]
    assert [m.code for m in shown.mentions] == ["tanaka", "sato"]
    for reason in ("「労務リスク：未払いの記録」が「あり」", "（2024年6月10日（月））が直近3年以内", "（18.3%）が基準（15%）を超える"):
        assert reason in shown.text
    approve_as_manager(kintone, application_id)
    assert workflow.run(ctx, "workflow", application_id) == "sent_to_director"


def test_the_forms_are_named_as_the_company_names_them(mappings):
    """Seed A-4's 稟議書, from the clients mapping's [forms], with the client as <得意先>."""
    from flows import applications as apps
    from mappings import MappingError

    assert apps.form_name(mappings, "credit_check", "株式会社サンプル物流") == \
        "06_1_【事前確認】株式会社サンプル物流反社/与信チェック申請書"
    assert apps.form_name(mappings, "trade_start", " 株式会社サンプル物流 ") == \
        "06_2_【取引開始】株式会社サンプル物流契約書類締結申請書"
    assert apps.form_name(mappings, "credit_check", None) == "06_1_【事前確認】（会社名未入力）反社/与信チェック申請書"
    with pytest.raises(MappingError, match="no 稟議 form 'other_kind'"):
        apps.form_name(mappings, "other_kind", "株式会社サンプル物流")
