"""Intake (seed A-1, A-3; issue 11): an order for prohibited work or for 30 days or less is flagged to
the sales rep and the 上長 before any visit or credit work; hearing items may wait for the visit."""

from __future__ import annotations

import pytest

from flows import order_registration
from kgbridge.samples import COMPLETE_ORDER
from tests.records import utc, visited

ORDERS, CLIENTS, VISITS = "3", "1", "6"


def _order(kintone, **changes) -> str:
    values = dict(COMPLETE_ORDER, 顧客レコード番号="1")
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return kintone.seed(ORDERS, values)


@pytest.fixture
def approved(kintone) -> str:
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    visited(kintone, client)  # orders need a completed visit (seed A-3, flows/visit_gate.py)
    return client


@pytest.fixture
def never_applied(kintone) -> str:
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "未申請"})
    visited(kintone, client)
    return client


def only_comment(kintone, rid):
    [comment] = kintone.apps[ORDERS].comments[rid]
    return comment


@pytest.mark.parametrize(("category", "article"), [
    ("港湾運送", "労働者派遣法第4条第1項第1号"),
    ("建設", "労働者派遣法第4条第1項第2号"),
    ("警備", "労働者派遣法第4条第1項第3号"),
    ("医療関係", "労働者派遣法第4条第1項第3号、同法施行令第2条"),
])
def test_prohibited_work_is_flagged_to_the_rep_and_the_supervisor(ctx, kintone, approved, category, article):
    rid = _order(kintone, 業務区分=category)

    assert order_registration.run(ctx, "orders", rid) == "flagged_dispatch_law"

    comment = only_comment(kintone, rid)
    assert [m.code for m in comment.mentions] == ["sato", "tanaka"]
    assert f"「業務区分」が「{category}」です" in comment.text and f"（{article}）" in comment.text
    assert "訪問・与信の手続きに進めていません" in comment.text
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"


def test_a_flag_comes_before_any_credit_work(ctx, kintone, never_applied):
    rid = _order(kintone, 業務区分="警備")

    assert order_registration.run(ctx, "orders", rid) == "flagged_dispatch_law"
    assert kintone.apps["4"].records == {}  # no 06_1 application opened
    assert "【与信】" not in only_comment(kintone, rid).text


def test_a_flag_comes_before_any_visit_work(ctx, kintone):
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "未申請"})  # never visited
    rid = _order(kintone, 顧客レコード番号=client, 業務区分="警備")
    visits_before = dict(kintone.apps[VISITS].records)

    assert order_registration.run(ctx, "orders", rid) == "flagged_dispatch_law"
    text = only_comment(kintone, rid).text
    assert "労働者派遣法第4条第1項第3号" in text
    assert "【訪問】" not in text and "【与信】" not in text  # nobody is sent to visit a client for 警備
    assert kintone.apps[VISITS].records == visits_before and kintone.apps["4"].records == {}
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"


def test_medical_work_is_allowed_under_its_exceptions(ctx, kintone, approved):
    rid = _order(kintone, 業務区分="医療関係", 派遣法の例外="紹介予定派遣")
    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"


def test_words_of_prohibited_work_ask_the_supervisor_who_can_clear_them(ctx, kintone, approved):
    rid = _order(kintone, 業務内容="解体現場での資材運搬")

    assert order_registration.run(ctx, "orders", rid) == "flagged_dispatch_law"
    text = only_comment(kintone, rid).text
    assert "「業務内容」に「解体」とあります。建設の業務に当たる場合は労働者派遣できません（労働者派遣法第4条第1項第2号）" in text
    assert "「禁止業務の確認」を「該当しない（上長確認済）」にしてください" in text

    kintone.update_record(ORDERS, rid, {"禁止業務確認": {"value": "該当しない（上長確認済）"}})
    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"


@pytest.mark.parametrize(("end", "outcome"), [
    ("2026-12-30", "flagged_dispatch_law"),            # 30 days: 12-01 .. 12-30
    ("2026-12-31", "sent_for_supervisor_approval"),    # 31 days
])
def test_a_period_of_thirty_days_or_less_is_daily_dispatch(ctx, kintone, approved, end, outcome):
    rid = _order(kintone, 開始時期="2026-12-01", 派遣終了予定日=end)

    assert order_registration.run(ctx, "orders", rid) == outcome
    if outcome == "flagged_dispatch_law":
        text = only_comment(kintone, rid).text
        assert "派遣期間が30日間（2026年12月1日（火）〜2026年12月30日（水））です" in text and "（労働者派遣法第35条の4）" in text


@pytest.mark.parametrize("changes", [
    {"業務区分": "ソフトウェア開発"},          # 施行令第4条第1項の業務
    {"派遣法の例外": "60歳以上の方"},          # 施行令第4条第2項の者
])
def test_daily_dispatch_exceptions_are_data(ctx, kintone, approved, changes):
    rid = _order(kintone, 開始時期="2026-12-01", 派遣終了予定日="2026-12-10", **changes)
    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"


def test_the_same_flag_is_said_once(ctx, kintone, approved):
    rid = _order(kintone, 業務区分="建設")
    order_registration.run(ctx, "orders", rid)
    assert order_registration.run(ctx, "orders", rid) == "already_told"
    assert len(kintone.comment_texts(ORDERS, rid)) == 1


def test_the_hearing_asks_for_work_category_location_period_and_qualifications(ctx, kintone, approved):
    rid = _order(kintone, 業務区分=None, 就業場所=None, 派遣終了予定日=None, 必要資格=None)

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"
    text = only_comment(kintone, rid).text
    for label in ("業務区分", "就業場所", "派遣期間（終了予定日）", "必要資格"):
        assert f"・{label}" in text


def test_an_item_marked_for_the_visit_does_not_hold_the_order_before_the_visit(ctx, kintone):
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})  # not visited yet
    deferred = _order(kintone, 顧客レコード番号=client, 就業場所=None, 必要資格=None, 訪問時確認=["就業場所", "必要資格"])
    not_deferrable = _order(kintone, 顧客レコード番号=client, 業務区分=None, 訪問時確認=["業務区分"])  # known before a visit

    assert order_registration.run(ctx, "orders", deferred) == "told_rep_missing_items"
    text = only_comment(kintone, deferred).text
    assert "【訪問】" in text and "就業場所" not in text and "必要資格" not in text  # only the visit holds it
    assert order_registration.run(ctx, "orders", not_deferrable) == "told_rep_missing_items"
    assert "・業務区分" in only_comment(kintone, not_deferrable).text


def test_once_the_client_was_visited_the_items_marked_for_the_visit_are_required(ctx, kintone, approved):
    rid = _order(kintone, 就業場所=None, 必要資格=None, 訪問時確認=["就業場所", "必要資格"])

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"
    text = only_comment(kintone, rid).text
    assert "【「訪問時確認」にした項目】\n顧客への訪問が完了したため、「訪問時確認」にしていた次の項目も受付の前に入力が必要です。" in text
    assert "\n・就業場所\n・必要資格" in text and "【未入力のオーダーヒアリング項目】" not in text
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"

    kintone.update_record(ORDERS, rid, {"就業場所": {"value": "東京物流センター"}, "必要資格": {"value": "フォークリフト"}})
    assert order_registration.run(ctx, "orders", rid) == "sent_for_supervisor_approval"


@pytest.mark.parametrize(("visited_at", "items_due"), [
    ("2026-12-01T10:00", True),    # the visit's time has come (now): the items are due
    ("2026-12-01T10:01", False),   # still ahead: the visit holds the order, not the items
])
def test_a_visit_counts_from_its_time(ctx, kintone, visited_at, items_due):
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "与信状態": "承認"})
    visited(kintone, client, 訪問日時=utc(visited_at))
    rid = _order(kintone, 顧客レコード番号=client, 必要資格=None, 訪問時確認=["必要資格"])

    assert order_registration.run(ctx, "orders", rid) == "told_rep_missing_items"
    text = only_comment(kintone, rid).text
    assert ("・必要資格" in text) is items_due
    assert ("【訪問】" in text) is not items_due


def test_the_mapping_names_every_category_and_exception_as_an_option_and_cites_each_article(mappings):
    from flows.order_legality import IntakeRules

    orders = mappings["orders"]
    rules = IntakeRules.of(orders)
    categories = set(orders.field("work_category").options)
    exceptions = set(orders.field("work_exception").options)
    assert {"港湾運送", "建設", "警備", "医療関係"} == set(rules.prohibited_work)
    for work in rules.prohibited_work.values():
        assert work.article.startswith("労働者派遣法第4条第1項") and set(work.categories) <= categories
        assert set(work.exceptions) <= exceptions
    assert set(rules.daily_dispatch.exempt_categories) <= categories
    assert set(rules.daily_dispatch.exempt_workers) <= exceptions
    assert rules.reviewed_value in orders.field("prohibited_work_review").options
    visit = orders.settings("order_registration")["visit_confirmable"]
    assert {orders.field(n).display for n in visit} == set(orders.field("confirm_at_visit").options)
