"""Delays: an application undecided N business days after 申請日 is chased by its status — the
person it waits for is asked to act (the 上長 for a 申請中 one, not the applicant), the 申請者 of
one back in 作成中 to re-submit or record a 遅延理由 — and a recorded reason is reported to the
上長, once each (seed A-4, issue 12). Fake kintone, real Redis."""

from __future__ import annotations

from datetime import datetime

import pytest

from flows import workflow
from mappings import MappingError
from tests.people import WORKFLOW

# 2026-11-16 is a Monday; Monday 2026-11-23 is 勤労感謝の日, so 5 business days end on Tuesday the 24th.
APPLIED_ON = "2026-11-16"
DEADLINE_DAY = datetime.fromisoformat("2026-11-24T10:00:00+09:00")
DAY_AFTER = datetime.fromisoformat("2026-11-25T10:00:00+09:00")


def _application(kintone, status="申請中", applied_on=APPLIED_ON, **values) -> str:
    return kintone.seed(WORKFLOW, {
        "申請種別": "06_1 反社・与信チェック", "件名": "06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書",
        "申請者": [{"code": "sato", "name": "佐藤"}], "上長": [{"code": "tanaka", "name": "田中"}],
        "申請日": applied_on, **values}, status=status)


@pytest.fixture
def at(ctx):
    def _at(moment: datetime):
        ctx.clock = lambda: moment
        return workflow.sweep_delays(ctx)
    return _at


def test_an_application_waiting_for_the_manager_asks_the_manager_to_decide_once(ctx, kintone, at):
    rid = _application(kintone)   # 申請中: the 上長 holds it

    assert at(DAY_AFTER) == "swept"
    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["tanaka"]   # the 上長, not the applicant
    assert comment.text == (
        "稟議「06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書」は申請日（2026年11月16日（月））から"
        "5営業日を過ぎても決裁されていません。現在「申請中」で、上長の確認を待っています。\n"
        "上長：内容をご確認のうえ、「上長承認」「差戻し」「否認」のいずれかを実行してください。")
    assert "遅延理由" not in comment.text   # the applicant has nothing to explain


def test_an_application_returned_to_the_applicant_asks_the_applicant(ctx, kintone, at):
    rid = _application(kintone, status="作成中")   # sent back (差戻し): the 申請者 holds it

    at(DAY_AFTER)
    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["sato"]
    assert "現在「作成中」で、申請者の対応を待っています。\n申請者：内容を見直して「申請」または「法務確認依頼」を実行してください。" \
        in comment.text
    assert "すぐに申請できない場合は、「遅延理由」に遅れている理由を入力してください。入力された理由は上長に報告します。" \
        in comment.text


def test_an_application_waiting_for_the_director_asks_the_director(ctx, kintone, at):
    rid = _application(kintone, status="取締役承認待ち", 取締役=[{"code": "suzuki", "name": "鈴木"}])

    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["suzuki"]
    assert "現在「取締役承認待ち」で、取締役の確認を待っています。\n" \
           "取締役：内容をご確認のうえ、「取締役承認」または「否認」を実行してください。" in comment.text


def test_an_application_with_legal_asks_legal(ctx, kintone, at):
    rid = _application(kintone, status="法務確認中", 法務担当=[{"code": "kato", "name": "加藤"}])

    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["kato"]
    assert "法務担当：内容をご確認のうえ、「法務確認OK」または「法務差戻し」を実行してください。" in comment.text


def test_a_new_status_is_chased_again_and_the_new_holder_is_asked(ctx, kintone, at):
    rid = _application(kintone)
    at(DAY_AFTER)                                     # the 上長 is asked
    kintone.update_status(WORKFLOW, rid, "差戻し", assignee="sato")   # they send it back

    at(DAY_AFTER)
    at(DAY_AFTER)

    first, second = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in first.mentions] == ["tanaka"] and [m.code for m in second.mentions] == ["sato"]
    assert "申請者：内容を見直して" in second.text


def test_an_application_without_its_approver_tells_the_manager_whose_name_is_missing(ctx, kintone, at):
    rid = _application(kintone, status="取締役承認待ち")   # nobody in 取締役

    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["tanaka"]
    assert "※「取締役」が未入力のため、上長にお知らせしています。「取締役」を入力してください。" in comment.text


def test_an_application_stuck_after_the_managers_approval_is_told_to_the_manager(ctx, kintone, at):
    rid = _application(kintone, status="上長承認済")   # kgbridge decides these at once: it is stuck

    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["tanaka"]
    assert "（ステータス：上長承認済）。\n上長：処理が止まっている可能性があります。システム運用担当者に状況の確認を依頼してください。" \
        in comment.text


@pytest.mark.user_wrote("11/27予定")
def test_the_reason_the_applicant_recorded_is_reported_to_the_supervisor_once(ctx, kintone, at):
    rid = _application(kintone, status="作成中")
    at(DAY_AFTER)                                      # the applicant is asked
    kintone.update_record(WORKFLOW, rid, {"遅延理由": {"value": "信用調査会社の回答待ち（11/27予定）"}})

    at(DAY_AFTER)
    at(DAY_AFTER)

    asked, report = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in asked.mentions] == ["sato"]
    assert [m.code for m in report.mentions] == ["tanaka"]
    assert "申請者が記録した遅延理由を報告します。\n\n信用調査会社の回答待ち（11/27予定）\n\n" \
           "上長：状況をご確認のうえ、必要に応じて申請者にご指示ください。" in report.text


def test_a_changed_reason_is_reported_again(ctx, kintone, at):
    rid = _application(kintone, status="作成中", 遅延理由="回答待ち")
    at(DAY_AFTER)
    kintone.update_record(WORKFLOW, rid, {"遅延理由": {"value": "先方の決算発表待ち"}})

    at(DAY_AFTER)

    # a reason already there: the applicant is not asked for one, the 上長 gets each reason once
    assert [t.split("\n\n")[1] for t in kintone.comment_texts(WORKFLOW, rid)] == ["回答待ち", "先方の決算発表待ち"]


def test_a_reason_recorded_while_the_manager_decides_is_reported_as_well(ctx, kintone, at):
    rid = _application(kintone, 遅延理由="取引先の登記簿の取り寄せ中")

    at(DAY_AFTER)

    chase, report = kintone.comment_texts(WORKFLOW, rid)
    assert chase.startswith("稟議「") and "上長：内容をご確認のうえ" in chase
    assert "\n\n取引先の登記簿の取り寄せ中\n\n" in report


def test_business_days_skip_the_holiday_before_an_application_is_late(ctx, kintone, at):
    rid = _application(kintone)

    at(DEADLINE_DAY)  # 5 business days, not 5 calendar days: still in time

    assert kintone.comment_texts(WORKFLOW, rid) == []


@pytest.mark.parametrize("moment", ["2026-11-28T10:00:00+09:00", "2026-11-25T07:30:00+09:00"])
def test_nobody_is_pinged_on_a_weekend_or_before_the_business_morning(ctx, kintone, at, moment):
    rid = _application(kintone)

    assert at(datetime.fromisoformat(moment)) == "outside_business_hours"
    assert kintone.comment_texts(WORKFLOW, rid) == []


def test_decided_applications_are_not_chased(ctx, kintone, at):
    approved, rejected = _application(kintone, status="承認"), _application(kintone, status="否認")
    draft = _application(kintone, status="作成中")

    at(DAY_AFTER)

    assert kintone.comment_texts(WORKFLOW, approved) == kintone.comment_texts(WORKFLOW, rejected) == []
    assert len(kintone.comment_texts(WORKFLOW, draft)) == 1  # a draft not yet submitted is late too


def test_an_idle_sweep_costs_one_call(ctx, kintone, at):
    _application(kintone, applied_on="2026-11-24")

    at(DAY_AFTER)

    assert sum(kintone.calls.values()) == 1


def test_whom_each_status_waits_for_is_checked_against_the_process(mappings):
    waits = workflow.waiting_for(mappings["workflow"])
    assert {status: w.who for status, w in waits.items()} == {
        "draft": "applicant", "legal_review": "legal", "applied": "supervisor", "director_review": "director"}
    assert [s for s, w in waits.items() if w.reason] == ["draft"]   # only the 申請者 records a 遅延理由

    wrong = mappings["workflow"].model_copy(deep=True)
    wrong.model_extra["delays"]["waiting_for"]["applied"]["actions"] = ["submit"]   # 申請 starts from 作成中
    with pytest.raises(MappingError, match="action 'submit' does not start from 'applied'"):
        workflow.waiting_for(wrong)
