"""A follow-up saved as done with its 次回フォロー日 plans the next one, once, on a business day (seed 001)."""

from __future__ import annotations

from flows import next_follow_up
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN

FOLLOW_UPS = "7"


def _done_follow_up(kintone, next_day: str | None = "2026-12-08", done: str | None = "2026-11-24") -> str:
    values = {"管理キー": "12:month_1", "フォロー名": "1ヶ月フォロー", "区分": "スタッフフォロー", "契約レコード番号": "12",
              "派遣先": "株式会社サンプル物流", "派遣スタッフ": "山本 さくら", "予定日": "2026-11-24",
              "担当者": [{"code": "sato", "name": "佐藤 一郎"}], "上長": [{"code": "tanaka", "name": "田中 部長"}],
              "確認した事実": "勤務は順調。残業は月5時間程度。"}
    if done:
        values["実施日"] = done
    if next_day:
        values["次回フォロー日"] = next_day
    return kintone.seed(FOLLOW_UPS, values)


def _records(kintone) -> list[dict]:
    return [kintone.record_values(FOLLOW_UPS, rid) for rid in kintone.apps[FOLLOW_UPS].records]


def test_a_done_follow_up_with_a_next_date_creates_the_next_one_once(ctx, kintone):
    rid = _done_follow_up(kintone)

    assert next_follow_up.run(ctx, "follow_ups", rid) == "next_follow_up_created"
    assert next_follow_up.run(ctx, "follow_ups", rid) == "already_done"

    [new] = [r for r in _records(kintone) if r["$id"] != rid]
    assert new["予定日"] == "2026-12-08" and new["管理キー"] == "12:next_2026-12-08"
    assert [u["code"] for u in new["担当者"]] == ["sato"] and new["派遣スタッフ"] == "山本 さくら"
    assert new["確認した事実"] == ""  # a new visit records its own facts
    [text] = kintone.comment_texts(FOLLOW_UPS, rid)
    assert "12月8日" in text and f"#{new['$id']}" in text


def test_a_next_date_on_a_holiday_moves_to_the_next_business_day(ctx, kintone):
    rid = _done_follow_up(kintone, next_day="2026-12-30")  # year-end break

    next_follow_up.run(ctx, "follow_ups", rid)

    [new] = [r for r in _records(kintone) if r["$id"] != rid]
    assert new["予定日"] == "2027-01-04"
    assert "休業日のため翌営業日" in kintone.comment_texts(FOLLOW_UPS, rid)[0]


def test_nothing_is_created_before_the_follow_up_is_done_or_without_a_next_date(ctx, kintone):
    not_done = _done_follow_up(kintone, done=None)
    kintone.update_record(FOLLOW_UPS, not_done, {"契約レコード番号": {"value": "13"}})  # another contract's
    no_next = _done_follow_up(kintone, next_day=None)

    assert next_follow_up.run(ctx, "follow_ups", not_done) == "nothing_to_do"
    assert next_follow_up.run(ctx, "follow_ups", no_next) == "no_next_follow_up"
    assert len(_records(kintone)) == 2
    assert kintone.record_values(FOLLOW_UPS, no_next)["完了判定"] == "完了"  # done; the sweep asks for the date


def test_an_add_whose_answer_was_lost_is_found_instead_of_added_again(ctx, kintone):
    from connectors.kintone import KintoneConnectionError

    rid = _done_follow_up(kintone)
    kintone.lose_answer_of("add_record")
    try:
        next_follow_up.run(ctx, "follow_ups", rid)
    except KintoneConnectionError:
        pass  # the job would be retried

    assert next_follow_up.run(ctx, "follow_ups", rid) == "linked_to_planned"  # found by its 前回フォロー
    assert len(_records(kintone)) == 2


def test_saving_the_follow_up_in_kintone_plans_the_next_one_through_the_webhook(ctx, kintone, settings, redis_conn,
                                                                                drain):
    from webhooks import create_app

    rid = _done_follow_up(kintone)
    client = create_app(settings, connection=redis_conn).test_client()
    body = notification(kintone, FOLLOW_UPS, rid, event_type="UPDATE_RECORD")
    assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", json=body).status_code == 200
    drain()

    assert len(_records(kintone)) == 2
