"""Delays: an application undecided N business days after 申請日 asks the applicant for a
遅延理由 and reports the reason to the 上長, once each (seed A-4). Fake kintone, real Redis."""

from __future__ import annotations

from datetime import datetime

import pytest

from flows import workflow
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


def test_overdue_application_asks_the_applicant_for_a_delay_reason_once(ctx, kintone, at):
    rid = _application(kintone)

    assert at(DAY_AFTER) == "swept"
    at(DAY_AFTER)

    [comment] = kintone.apps[WORKFLOW].comments[rid]
    assert [m.code for m in comment.mentions] == ["sato"]
    assert "申請日（2026年11月16日（月））から5営業日" in comment.text and "「遅延理由」" in comment.text


@pytest.mark.user_wrote("11/27予定")
def test_the_recorded_reason_is_reported_to_the_supervisor_once(ctx, kintone, at):
    rid = _application(kintone)
    at(DAY_AFTER)
    kintone.update_record(WORKFLOW, rid, {"遅延理由": {"value": "信用調査会社の回答待ち（11/27予定）"}})

    at(DAY_AFTER)
    at(DAY_AFTER)

    comments = kintone.apps[WORKFLOW].comments[rid]
    assert len(comments) == 2
    assert [m.code for m in comments[-1].mentions] == ["tanaka"]
    assert "信用調査会社の回答待ち（11/27予定）" in comments[-1].text


def test_a_changed_reason_is_reported_again(ctx, kintone, at):
    rid = _application(kintone, 遅延理由="回答待ち")
    at(DAY_AFTER)
    kintone.update_record(WORKFLOW, rid, {"遅延理由": {"value": "先方の決算発表待ち"}})

    at(DAY_AFTER)

    assert [t.split("\n\n")[1] for t in kintone.comment_texts(WORKFLOW, rid)] == ["回答待ち", "先方の決算発表待ち"]


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
