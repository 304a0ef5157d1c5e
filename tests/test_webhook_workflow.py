"""The new-client gates end to end: kintone webhooks into the receiver, a real RQ worker runs the
jobs, and the kintone records (the fake) show the outcome — as the sales team would see it."""

from __future__ import annotations

import json

import pytest

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


@pytest.fixture
def client(settings, redis_conn, ctx):
    ctx.clock = lambda: TUESDAY_MORNING
    ctx.enqueue = flow_enqueuer(redis_conn, settings)  # as bootstrap wires it in a worker
    return create_app(settings, connection=redis_conn).test_client()


@pytest.fixture
def notify(client, kintone, drain):
    """kintone notifies us of a record's current state; the worker runs whatever follows."""
    def _notify(app: str, record_id: str, event_type: str = "UPDATE_STATUS") -> dict:
        body = notification(kintone, app, record_id, event_type=event_type)
        response = client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body, ensure_ascii=False),
                               content_type="application/json")
        assert response.status_code == 200
        drain()
        return body
    return _notify


@pytest.fixture
def held(kintone, notify):
    """A new client's complete order, registered through its webhook: (client, order, 06_1 id)."""
    customer = new_client(kintone)
    order = held_order(kintone, customer)
    notify(ORDERS, order, "ADD_RECORD")
    [application] = applications(kintone, "06_1")
    return customer, order, application["$id"]


def test_order_for_a_new_client_ends_with_one_06_1_application_and_a_comment(held, kintone):
    customer, order, application_id = held

    assert len(applications(kintone)) == 1
    [comment] = kintone.apps[ORDERS].comments[order]
    assert f"稟議 #{application_id}" in comment.text and comment.mentions[0].code == "sato"
    assert status_of(kintone, ORDERS, order) == "未処理"
    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "審査中"


def test_approving_the_application_approves_the_client_and_moves_the_order_to_supervisor_approval(
        held, kintone, notify):
    customer, order, application_id = held
    fill_in(kintone, application_id)
    submit(kintone, application_id)
    notify(WORKFLOW, application_id)
    approve_as_manager(kintone, application_id)

    notify(WORKFLOW, application_id)

    assert status_of(kintone, WORKFLOW, application_id) == "承認"
    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "承認"
    record = kintone.record_values(ORDERS, order)
    assert record["ステータス"] == "上長承認待ち" and [u["code"] for u in record["作業者"]] == ["tanaka"]
    assert len(applications(kintone, "06_2")) == 1

    # kintone notifies again (of our own 決裁, or twice): nothing happens twice.
    notify(WORKFLOW, application_id)
    notify(WORKFLOW, application_id, "UPDATE_RECORD")
    assert len(applications(kintone)) == 2
    assert kintone.calls[("update_status", ORDERS)] == 1
    assert len(kintone.comment_texts(ORDERS, order)) == 1


def test_a_low_rating_is_not_approved_until_the_director_approves(held, kintone, notify):
    customer, order, application_id = held
    fill_in(kintone, application_id, 信用調査機関の評価="40", 取締役=[{"code": "yamamoto", "name": "山本"}])
    submit(kintone, application_id)
    approve_as_manager(kintone, application_id)
    notify(WORKFLOW, application_id)

    assert status_of(kintone, WORKFLOW, application_id) == "取締役承認待ち"
    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "審査中"
    assert status_of(kintone, ORDERS, order) == "未処理"

    kintone.update_status(WORKFLOW, application_id, "取締役承認")
    notify(WORKFLOW, application_id)

    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "承認"
    assert status_of(kintone, ORDERS, order) == "上長承認待ち"


def test_rejecting_the_application_tells_the_rep_and_leaves_the_order_held(held, kintone, notify):
    customer, order, application_id = held
    fill_in(kintone, application_id)
    submit(kintone, application_id)
    kintone.update_status(WORKFLOW, application_id, "否認")

    notify(WORKFLOW, application_id)
    notify(WORKFLOW, application_id)  # a second notice changes nothing

    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "否認"
    assert status_of(kintone, ORDERS, order) == "未処理"
    texts = kintone.comment_texts(ORDERS, order)
    assert len(texts) == 2 and "否認されました" in texts[-1]
    assert kintone.apps[ORDERS].comments[order][-1].mentions[0].code == "sato"


# -- 取引可否基準 (seed A-4): the answers decide, not only that they are filled in ------------------

def test_an_antisocial_answer_is_rejected_with_the_reason_told_and_the_order_kept_held(held, kintone, notify):
    customer, order, application_id = held
    fill_in(kintone, application_id, 反社会的勢力="該当する")
    submit(kintone, application_id)

    notify(WORKFLOW, application_id)
    notify(WORKFLOW, application_id)  # our own 否認 notifies us again: nothing twice

    assert status_of(kintone, WORKFLOW, application_id) == "否認"
    record = kintone.record_values(CLIENTS, customer)
    assert record["与信状態"] == "否認" and record["反社チェック"] == "該当あり"
    [told] = [c for c in kintone.apps[WORKFLOW].comments[application_id] if "否認しました" in c.text]
    assert "「反社会的勢力ではないか」が「該当する」のため、この顧客とは取引できません。" in told.text
    assert "新しい稟議で申請し直してください" in told.text
    assert [m.code for m in told.mentions] == ["sato", "tanaka"]
    assert status_of(kintone, ORDERS, order) == "未処理"
    texts = kintone.comment_texts(ORDERS, order)
    assert len(texts) == 2 and "否認されました" in texts[-1]
    assert kintone.calls[("update_status", ORDERS)] == 0
    assert applications(kintone, "06_2") == []


def test_a_concern_in_the_criteria_goes_to_the_director_even_with_a_good_rating(held, kintone, notify):
    customer, order, application_id = held
    fill_in(kintone, application_id, 遵法性判定="懸念あり", 取締役=[{"code": "yamamoto", "name": "山本"}])
    submit(kintone, application_id)
    notify(WORKFLOW, application_id)
    [ahead] = kintone.apps[WORKFLOW].comments[application_id][-1:]
    assert "「遵法性の判定」が「懸念あり」のため、取締役の確認が必要です。" in ahead.text
    assert ahead.mentions[0].code == "tanaka"
    approve_as_manager(kintone, application_id)

    notify(WORKFLOW, application_id)

    assert status_of(kintone, WORKFLOW, application_id) == "取締役承認待ち"
    director_note = kintone.apps[WORKFLOW].comments[application_id][-1]
    assert "「遵法性の判定」が「懸念あり」" in director_note.text and director_note.mentions[0].code == "yamamoto"
    assert kintone.record_values(CLIENTS, customer)["与信状態"] == "審査中"
    assert status_of(kintone, ORDERS, order) == "未処理"

    kintone.update_status(WORKFLOW, application_id, "取締役承認")
    notify(WORKFLOW, application_id)

    record = kintone.record_values(CLIENTS, customer)
    assert record["与信状態"] == "承認" and record["反社チェック"] == "問題なし"
    assert status_of(kintone, ORDERS, order) == "上長承認待ち"
