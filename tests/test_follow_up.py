"""A concluded individual contract → the staff follow-up schedule (seed 001): a webhook in,
follow-up records and a comment out, through a real RQ worker and Redis."""

from __future__ import annotations

import json

import pytest

from flows import follow_up
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import SATO, at, seed
from webhooks import create_app

CONTRACTS, FOLLOW_UPS = "5", "7"


@pytest.fixture
def client(settings, redis_conn, ctx):
    ctx.clock = lambda: at("2026-09-28T10:00")
    return create_app(settings, connection=redis_conn).test_client()


def concluded(kintone, mappings, **values) -> str:
    fields = {"contract_kind": "個別契約", "client": "株式会社サンプル物流", "sales_rep": SATO,
              "staff_name": "山田 花子", "commander": "物流課 高橋課長", "dispatch_start": "2026-10-01",
              "dispatch_end": "2027-03-31", "staff_ids": "S-1001"}
    fields.update(values)
    return seed(kintone, mappings, "contracts", status="締結済", **fields)


def conclude_by_webhook(client, kintone, rid: str, drain) -> None:
    body = json.dumps(notification(kintone, CONTRACTS, rid, "UPDATE_STATUS"), ensure_ascii=False)
    response = client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=body, content_type="application/json")
    assert response.status_code == 200 and response.get_json()["jobs"] == 2  # + master_retention (基本契約)
    drain()


def follow_ups(kintone) -> list[dict]:
    return [kintone.record_values(FOLLOW_UPS, rid) for rid in sorted(kintone.apps[FOLLOW_UPS].records, key=int)]


def schedule(kintone) -> list[tuple[str, str, str, list[str]]]:
    return [(r["フォロー名"], r["区分"], r["予定日"], [u["code"] for u in r["担当者"]]) for r in follow_ups(kintone)]


def test_a_concluded_contract_produces_the_first_three_months_on_business_days(client, kintone, mappings, drain):
    rid = concluded(kintone, mappings)  # 派遣開始日 Thu 2026-10-01

    conclude_by_webhook(client, kintone, rid, drain)

    assert schedule(kintone) == [
        ("初日フォロー", "スタッフフォロー", "2026-10-01", ["sato"]),
        ("お礼電話（初日）", "お礼電話", "2026-10-01", ["tanaka"]),  # the manager calls the 指揮命令者
        ("1週目フォロー", "スタッフフォロー", "2026-10-07", ["sato"]),
        ("1ヶ月フォロー", "スタッフフォロー", "2026-11-02", ["sato"]),  # 11-01 is a Sunday
        ("2ヶ月フォロー", "スタッフフォロー", "2026-12-01", ["sato"]),
        ("3ヶ月フォロー", "スタッフフォロー", "2027-01-04", ["sato"]),  # 元日 and the year-end break
        # 45 and 30 days before the 派遣終了日 2027-03-31: the renewal-intent checks (02-14 is a Sunday)
        ("更新意向確認（スタッフさん）", "更新意向確認", "2027-02-12", ["sato"]),
        ("更新意向確認（指揮命令者）", "更新意向確認", "2027-03-01", ["sato"]),
    ]
    first = follow_ups(kintone)[0]
    assert first["管理キー"] == f"{rid}:first_day" and first["契約レコード番号"] == rid
    assert first["派遣スタッフ"] == "山田 花子" and first["指揮命令者"] == "物流課 高橋課長"
    assert [u["code"] for u in first["上長"]] == ["tanaka"]
    [comment] = kintone.apps[CONTRACTS].comments[rid]
    assert [m.code for m in comment.mentions] == ["sato", "tanaka"]
    assert "山田 花子さん（派遣先：株式会社サンプル物流）のフォロー予定" in comment.text
    assert "・3ヶ月フォロー：2027年1月4日（月）" in comment.text
    assert "\n上長：お礼電話は、派遣先の指揮命令者（物流課 高橋課長）へ職場にお電話をお願いします。" in comment.text


def test_the_end_of_week_one_stays_in_week_one(ctx, kintone, mappings):
    rid = concluded(kintone, mappings, dispatch_start="2026-10-05")  # Mon: +6 days is a Sunday

    follow_up.run(ctx, "contracts", rid)

    assert ("1週目フォロー", "スタッフフォロー", "2026-10-09", ["sato"]) in schedule(kintone)


def test_a_replayed_conclusion_creates_nothing_twice(ctx, kintone, mappings):
    rid = concluded(kintone, mappings)
    assert follow_up.run(ctx, "contracts", rid) == "schedule_created"
    kintone.calls.clear()

    assert follow_up.run(ctx, "contracts", rid) == "already_scheduled"

    assert len(follow_ups(kintone)) == 8
    assert len(kintone.apps[CONTRACTS].comments[rid]) == 1
    assert sum(kintone.calls.values()) == 2  # the contract and the existing follow-ups


def test_only_the_missing_follow_ups_are_added_when_some_exist(ctx, kintone, mappings):
    rid = concluded(kintone, mappings)
    seed(kintone, mappings, "follow_ups", schedule_key=f"{rid}:first_day", title="初日フォロー",
         contract_record_id=rid)

    follow_up.run(ctx, "contracts", rid)

    keys = [r["管理キー"] for r in follow_ups(kintone)]
    assert sorted(keys) == sorted(f"{rid}:{k}" for k in
                                  ("first_day", "thanks_first_day", "week_1", "month_1", "month_2", "month_3",
                                   "renewal_intent_staff_2027-03-31", "renewal_intent_commander_2027-03-31"))


def test_a_renewal_gets_its_follow_up_and_a_thank_you_call_only_at_milestones(ctx, kintone, mappings):
    first_renewal = concluded(kintone, mappings, renewal_count="1", dispatch_start="2027-01-01")
    second_renewal = concluded(kintone, mappings, renewal_count="2", dispatch_start="2027-04-01",
                               dispatch_end="2027-06-30")

    follow_up.run(ctx, "contracts", first_renewal)
    follow_up.run(ctx, "contracts", second_renewal)

    assert schedule(kintone) == [
        ("更新1回目フォロー", "スタッフフォロー", "2027-01-04", ["sato"]),
        ("お礼電話（更新1回目）", "お礼電話", "2027-01-04", ["tanaka"]),
        ("更新意向確認（スタッフさん）", "更新意向確認", "2027-02-12", ["sato"]),
        ("更新意向確認（指揮命令者）", "更新意向確認", "2027-03-01", ["sato"]),
        ("更新2回目フォロー", "スタッフフォロー", "2027-04-01", ["sato"]),
        ("更新意向確認（スタッフさん）", "更新意向確認", "2027-05-14", ["sato"]),  # 05-16 is a Sunday
        ("更新意向確認（指揮命令者）", "更新意向確認", "2027-05-31", ["sato"]),
    ]


def test_a_basic_contract_or_one_not_concluded_starts_no_follow_up(ctx, kintone, mappings):
    basic = concluded(kintone, mappings, contract_kind="基本契約")
    signing = seed(kintone, mappings, "contracts", status="署名依頼中", contract_kind="個別契約",
                   dispatch_start="2026-10-01")

    assert follow_up.run(ctx, "contracts", basic) == "not_individual_contract"
    assert follow_up.run(ctx, "contracts", signing) == "not_concluded"
    assert follow_ups(kintone) == []


def test_a_new_schedule_costs_five_kintone_calls(ctx, kintone, mappings):
    rid = concluded(kintone, mappings)
    kintone.calls.clear()

    follow_up.run(ctx, "contracts", rid)

    # the existing follow-ups, and the staff member's last follow-up of an earlier contract (none here)
    assert dict(kintone.calls) == {("get_record", CONTRACTS): 1, ("get_records", FOLLOW_UPS): 2,
                                   ("add_records", FOLLOW_UPS): 1, ("add_comment", CONTRACTS): 1}
