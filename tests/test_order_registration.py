"""Order registration → supervisor approval, with the fake kintone and a real Redis."""

from __future__ import annotations

from datetime import datetime

from connectors.kintone import KintoneRevisionConflict
from flows import order_registration
from kgbridge.samples import COMPLETE_ORDER, seed_embedded
from tests.records import visited

ORDERS, CLIENTS = "3", "1"


def _order(kintone, **changes) -> str:
    values = dict(COMPLETE_ORDER, 顧客レコード番号="1")
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return kintone.seed(ORDERS, values)


def _client(kintone, credit="承認", name="株式会社サンプル物流") -> str:
    client = kintone.seed(CLIENTS, {"会社名": name, "与信状態": credit})
    visited(kintone, client)  # orders need a completed visit (seed A-3; tests/test_visits.py)
    return client


def test_complete_order_with_approved_client_goes_to_supervisor(ctx, kintone):
    _client(kintone)
    rid = _order(kintone)

    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"

    record = kintone.record_values(ORDERS, rid)
    assert record["ステータス"] == "上長承認待ち"
    assert record["作業者"] == [{"code": "tanaka", "name": "tanaka"}]
    assert record["$revision"] == "3"  # an action raises the revision by 2
    assert kintone.comment_texts(ORDERS, rid) == []


def test_incomplete_order_gets_one_comment_listing_missing_items(ctx, kintone):
    _client(kintone)
    rid = _order(kintone, 募集背景=None, 請求単価=None, 勤務曜日=[])

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"

    [comment] = kintone.apps[ORDERS].comments[rid]
    assert comment.mentions[0].code == "sato"
    assert "・募集背景" in comment.text and "・勤務曜日" in comment.text and "・請求単価" in comment.text
    assert "業務内容" not in comment.text
    assert "上長承認依頼に進めていません" in comment.text
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"


def test_same_complaint_is_not_posted_again_for_an_unchanged_order(ctx, kintone):
    _client(kintone)
    rid = _order(kintone, 募集背景=None)
    order_registration.run(ctx, "orders", rid)

    assert order_registration.run(ctx, "orders", rid) == "already_told"
    assert len(kintone.comment_texts(ORDERS, rid)) == 1


def test_a_new_gap_is_reported_again_with_the_current_list(ctx, kintone):
    _client(kintone)
    rid = _order(kintone, 募集背景=None)
    order_registration.run(ctx, "orders", rid)
    kintone.update_record(ORDERS, rid, {"業務内容": {"value": ""}})

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"
    latest = kintone.comment_texts(ORDERS, rid)[-1]
    assert "・募集背景" in latest and "・業務内容" in latest


def test_overtime_hours_are_required_only_when_there_is_overtime(ctx, kintone):
    _client(kintone)
    with_overtime = _order(kintone, 残業時間="")
    without_overtime = _order(kintone, 残業の有無="無", 残業時間="")

    order_registration.run(ctx, "orders", with_overtime)
    order_registration.run(ctx, "orders", without_overtime)

    assert "・残業時間" in kintone.comment_texts(ORDERS, with_overtime)[0]
    assert kintone.record_values(ORDERS, without_overtime)["ステータス"] == "上長承認待ち"


def test_client_without_credit_approval_holds_the_order(ctx, kintone):
    _client(kintone, credit="未申請", name="有限会社はじめて製作所")
    rid = _order(kintone)

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"

    [text] = kintone.comment_texts(ORDERS, rid)
    assert "【与信】" in text and "有限会社はじめて製作所" in text and "06_1" in text
    assert "稟議 #1" in text  # the 06_1 application opened for it
    assert "未入力" not in text
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"


def test_client_under_review_and_rejected_get_their_own_explanation(ctx, kintone):
    _client(kintone, credit="審査中")
    _client(kintone, credit="否認")
    review = _order(kintone, 顧客レコード番号="1")
    rejected = _order(kintone, 顧客レコード番号="2")

    order_registration.run(ctx, "orders", review)
    order_registration.run(ctx, "orders", rejected)

    assert "審査中" in kintone.comment_texts(ORDERS, review)[0]
    assert "否認" in kintone.comment_texts(ORDERS, rejected)[0]


def test_order_pointing_at_a_missing_client_says_so(ctx, kintone):
    rid = _order(kintone, 顧客レコード番号="99")
    visited(kintone, "99")  # visited, then the client record was deleted

    order_registration.run(ctx, "orders", rid)

    assert "顧客管理台帳に見つかりません" in kintone.comment_texts(ORDERS, rid)[0]


def test_order_not_in_unprocessed_is_left_alone(ctx, kintone):
    _client(kintone)
    rid = _order(kintone)
    order_registration.run(ctx, "orders", rid)
    calls_before = sum(kintone.calls.values())

    assert order_registration.run(ctx, "orders", rid) == "nothing_to_do"
    assert sum(kintone.calls.values()) - calls_before == 1  # one read, no write


def test_conflict_rereads_and_decides_again(ctx, kintone):
    _client(kintone)
    rid = _order(kintone)
    kintone.fail_next("update_status", KintoneRevisionConflict("changed", status=409, code="GAIA_CO02"))

    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"
    assert kintone.calls[("get_record", ORDERS)] == 2


def test_acceptance_date_and_comment_are_recorded_once(ctx, kintone):
    ctx.clock = lambda: datetime.fromisoformat("2026-11-24T10:00:00+09:00")
    _client(kintone)
    rid = _order(kintone)
    order_registration.run(ctx, "orders", rid)
    kintone.update_status(ORDERS, rid, "承認")

    assert order_registration.run(ctx, "orders", rid) == "acceptance_recorded"
    assert order_registration.run(ctx, "orders", rid) == "nothing_to_do"

    assert kintone.record_values(ORDERS, rid)["受付日"] == "2026-11-24"
    [text] = kintone.comment_texts(ORDERS, rid)
    assert "受付済" in text and "2026年11月24日" in text


def test_kintone_calls_per_decision_are_the_fewest_the_api_allows(ctx, kintone, mappings):
    ids = seed_embedded(kintone, mappings)
    kintone.calls.clear()
    order_registration.run(ctx, "orders", ids["order_complete"])
    assert sum(kintone.calls.values()) == 4  # order, the client's visits, client, action

    # The incomplete order's client never applied for credit: its 06_1 application is opened too.
    kintone.calls.clear()
    order_registration.run(ctx, "orders", ids["order_incomplete"])
    # order, the client's visits, client, application query and add, client 審査中, order comment,
    # + a comment on the application because this context has no G-Staff to prefill from.
    assert sum(kintone.calls.values()) == 8

    # Notified again: the client is now 審査中 because of the 06_1 we opened, which the rep was told
    # about already; the same gaps are the same complaint, so nothing is posted.
    kintone.calls.clear()
    assert order_registration.run(ctx, "orders", ids["order_incomplete"]) == "already_told"
    assert sum(kintone.calls.values()) == 3  # order, the client's visits, client


def test_without_a_workflow_app_the_rep_is_asked_to_apply_by_hand(ctx, kintone, mappings):
    from mappings import Mappings

    ctx.mappings = Mappings([m for m in mappings if m.key != "workflow"])
    _client(kintone, credit="未申請", name="有限会社はじめて製作所")
    rid = _order(kintone)

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"
    assert "稟議「06_1_【事前確認】有限会社はじめて製作所反社/与信チェック申請書」を申請してください" in kintone.comment_texts(ORDERS, rid)[0]


def test_accepted_order_is_shared_to_gstaff_once_with_its_number_on_the_record(ctx, kintone):
    from connectors.gstaff.fake import FakeGStaff

    ctx.gstaff = FakeGStaff.with_samples()
    ctx.clock = lambda: datetime.fromisoformat("2026-11-24T10:00:00+09:00")
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認", "Gスタッフ顧客ID": "G-1001"})
    visited(kintone, client)
    rid = _order(kintone, 顧客レコード番号=client)
    order_registration.run(ctx, "orders", rid)
    kintone.update_status(ORDERS, rid, "承認")

    assert order_registration.run(ctx, "orders", rid) == "acceptance_recorded"
    order_registration.run(ctx, "orders", rid)

    [(order_id, shared)] = ctx.gstaff.orders.values()
    assert shared.client_id == "G-1001" and shared.reference == f"kintone:orders:{rid}"
    assert kintone.record_values(ORDERS, rid)["Gスタッフオーダー番号"] == order_id
    assert order_id in kintone.comment_texts(ORDERS, rid)[0]


def test_acceptance_of_an_order_whose_client_is_not_in_gstaff_says_what_to_do(ctx, kintone):
    from connectors.gstaff.fake import FakeGStaff

    ctx.gstaff = FakeGStaff.with_samples()
    _client(kintone)
    rid = _order(kintone)
    order_registration.run(ctx, "orders", rid)
    kintone.update_status(ORDERS, rid, "承認")

    assert order_registration.run(ctx, "orders", rid) == "acceptance_recorded"
    assert ctx.gstaff.orders == {}
    assert "Gスタッフ顧客ID" in kintone.comment_texts(ORDERS, rid)[0]
