"""A credit approval holds for a while (workflow.toml [credit_check.validity], 12 months): the
re-check 06_1 is opened ahead of the lapse, and an order after it is held like one never
approved. Dated edge cases on the last valid day, the first lapsed day and the re-check lead
day. Fake kintone, real Redis; the order comes in by its webhook as in production."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from flows import credit_check, order_registration
from kgbridge import bootstrap, periodic
from kgbridge.jobs import flow_enqueuer
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
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
from webhooks import create_app

TODAY = TUESDAY_MORNING.date()  # Tuesday 2026-11-24
REP = [{"code": "sato", "name": "佐藤 一郎"}]


def _approved_client(kintone, valid_until: date, **values) -> str:
    return new_client(kintone, credit="承認", 反社チェック="問題なし", 取引状態="取引可", 担当営業=REP,
                      与信承認日=(valid_until - timedelta(days=364)).isoformat(),
                      与信有効期限=valid_until.isoformat(), **values)


@pytest.fixture
def notify(ctx, settings, redis_conn, kintone, drain):
    ctx.clock = lambda: TUESDAY_MORNING
    ctx.enqueue = flow_enqueuer(redis_conn, settings)
    web = create_app(settings, connection=redis_conn).test_client()

    def _notify(app: str, record_id: str, event_type: str = "UPDATE_STATUS") -> None:
        body = notification(kintone, app, record_id, event_type=event_type)
        response = web.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                            content_type="application/json")
        assert response.status_code == 200
        drain()
    return _notify


# -- orders: held once the approval lapsed --------------------------------------------------------

def test_an_order_on_the_last_valid_day_goes_to_the_supervisor(kintone, notify):
    client = _approved_client(kintone, valid_until=TODAY)
    order = held_order(kintone, client)

    notify(ORDERS, order, "ADD_RECORD")

    assert status_of(kintone, ORDERS, order) == "上長承認待ち"
    assert applications(kintone) == []


def test_an_order_on_the_first_lapsed_day_is_held_and_opens_the_re_check(kintone, notify):
    client = _approved_client(kintone, valid_until=TODAY - timedelta(days=1))
    order = held_order(kintone, client)

    notify(ORDERS, order, "ADD_RECORD")

    assert status_of(kintone, ORDERS, order) == "未処理"
    [application] = applications(kintone, "06_1")
    assert application["顧客レコード番号"] == client and application["起票元オーダー"] == order
    assert kintone.record_values(CLIENTS, client)["与信状態"] == "審査中"
    [comment] = kintone.apps[ORDERS].comments[order]
    assert "与信承認は2026年11月23日（月）で有効期限が切れています" in comment.text
    assert (f"再審査の稟議「06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書」（稟議 #{application['$id']}）が承認されるまで"
            in comment.text)
    assert [m.code for m in comment.mentions] == ["sato"]

    notify(ORDERS, order, "UPDATE_RECORD")  # saved again while 審査中: no second comment
    assert len(kintone.comment_texts(ORDERS, order)) == 1


def test_the_approved_re_check_renews_the_validity_and_releases_the_held_order(ctx, kintone, notify):
    client = _approved_client(kintone, valid_until=TODAY - timedelta(days=1))
    order = held_order(kintone, client)
    notify(ORDERS, order, "ADD_RECORD")
    [application] = applications(kintone, "06_1")
    fill_in(kintone, application["$id"])
    submit(kintone, application["$id"])
    notify(WORKFLOW, application["$id"])
    approve_as_manager(kintone, application["$id"])

    notify(WORKFLOW, application["$id"])

    record = kintone.record_values(CLIENTS, client)
    assert record["与信状態"] == "承認"
    assert record["与信承認日"] == "2026-11-24" and record["与信有効期限"] == "2027-11-23"
    assert status_of(kintone, ORDERS, order) == "上長承認待ち"
    assert applications(kintone, "06_2") == []  # already 取引可: no second contract application
    assert "与信有効期限を2027年11月23日（火）にしました" in kintone.comment_texts(WORKFLOW, application["$id"])[-1]


def test_a_first_approval_records_its_validity_from_the_day_of_approval(ctx, kintone, notify):
    client = new_client(kintone)
    order = held_order(kintone, client)
    notify(ORDERS, order, "ADD_RECORD")
    [application] = applications(kintone, "06_1")
    fill_in(kintone, application["$id"])
    submit(kintone, application["$id"])
    approve_as_manager(kintone, application["$id"])
    ctx.clock = lambda: datetime.fromisoformat("2028-02-29T10:00:00+09:00")  # a leap day

    notify(WORKFLOW, application["$id"])

    record = kintone.record_values(CLIENTS, client)
    assert record["与信承認日"] == "2028-02-29" and record["与信有効期限"] == "2029-02-27"
    assert len(applications(kintone, "06_2")) == 1


# -- the re-check sweep -------------------------------------------------------------------------

def _sweep(ctx, moment: datetime = TUESDAY_MORNING) -> str:
    ctx.clock = lambda: moment
    return credit_check.sweep_rechecks(ctx)


def test_the_re_check_is_opened_on_its_lead_day_once(ctx, kintone, mappings):
    lead = mappings["workflow"].settings("credit_check")["validity"]["recheck_lead_days"]
    due = _approved_client(kintone, valid_until=TODAY + timedelta(days=lead), 会社名="株式会社期限近")
    later = _approved_client(kintone, valid_until=TODAY + timedelta(days=lead + 1), 会社名="株式会社まだ先")

    assert _sweep(ctx) == "swept"
    calls = sum(kintone.calls.values())
    _sweep(ctx)

    [application] = applications(kintone, "06_1")
    assert application["顧客レコード番号"] == due and application["ステータス"] == "作成中"
    assert [u["code"] for u in application["申請者"]] == ["sato"]
    [comment] = [c for c in kintone.apps[WORKFLOW].comments[application["$id"]] if "再審査" in c.text]
    assert "有効期限は2026年12月24日（木）です" in comment.text and [m.code for m in comment.mentions] == ["sato"]
    assert kintone.record_values(CLIENTS, due)["与信状態"] == "承認"  # still valid until it lapses
    assert kintone.record_values(CLIENTS, later)["与信状態"] == "承認"
    assert sum(kintone.calls.values()) - calls == 1  # the second sweep: its query only

    # The day after, the later client's lead day has come.
    _sweep(ctx, TUESDAY_MORNING + timedelta(days=1))
    assert {a["顧客レコード番号"] for a in applications(kintone, "06_1")} == {due, later}


def test_the_sweep_waits_for_a_business_day(ctx, kintone):
    _approved_client(kintone, valid_until=TODAY + timedelta(days=5))

    assert _sweep(ctx, datetime.fromisoformat("2026-11-28T10:00:00+09:00")) == "outside_business_hours"  # Saturday
    assert applications(kintone) == []
    assert _sweep(ctx, datetime.fromisoformat("2026-11-30T10:00:00+09:00")) == "swept"  # Monday
    assert len(applications(kintone)) == 1


def test_an_order_after_the_lapse_finds_the_re_check_the_sweep_opened(ctx, kintone, notify):
    client = _approved_client(kintone, valid_until=TODAY - timedelta(days=1))
    _sweep(ctx, TUESDAY_MORNING - timedelta(days=7))  # opened a week before the lapse
    ctx.clock = lambda: TUESDAY_MORNING
    order = held_order(kintone, client)

    notify(ORDERS, order, "ADD_RECORD")

    [application] = applications(kintone, "06_1")
    assert f"稟議 #{application['$id']}" in kintone.comment_texts(ORDERS, order)[0]
    assert status_of(kintone, ORDERS, order) == "未処理"


def test_an_approval_recorded_before_validity_was_tracked_has_not_lapsed(ctx, kintone):
    client = new_client(kintone, credit="承認", 取引状態="取引可")
    order = held_order(kintone, client)
    ctx.clock = lambda: TUESDAY_MORNING

    assert order_registration.run(ctx, "orders", order) == "sent_for_supervisor_approval"
    assert _sweep(ctx) == "swept" and applications(kintone) == []


def test_the_periodic_job_opens_the_re_checks(ctx, kintone, settings):
    bootstrap.set_context(ctx, settings)  # as a worker holds them
    client = _approved_client(kintone, valid_until=TODAY + timedelta(days=3))
    ctx.clock = lambda: TUESDAY_MORNING

    periodic.sweep_workflow_delays()

    [application] = applications(kintone, "06_1")
    assert application["顧客レコード番号"] == client
