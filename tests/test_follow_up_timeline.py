"""One timeline per staff member (issue 13, seed 001 ❶): a follow-up saved in kintone (webhook in)
opens the next one linked to it, with its facts and open 相談・課題 carried in; a next date near a
planned milestone moves it; the schedule stops at 派遣終了日, at a 中途終了日 and when cancelled; a
follow-up whose 相談・課題 lack 対応期限/対応方針/報告方法 does not count as done."""

from __future__ import annotations

import pytest

from flows import deadlines
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import SATO, at, seed
from webhooks import create_app

CONTRACTS, FOLLOW_UPS = "5", "7"
STAFF = "S-2001"


@pytest.fixture
def client(settings, redis_conn, ctx):
    ctx.clock = lambda: at("2026-10-01T10:00")
    return create_app(settings, connection=redis_conn).test_client()


def post(client, kintone, app: str, rid: str, event: str, drain) -> None:
    body = notification(kintone, app, rid, event)
    assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", json=body).status_code == 200
    drain()


def conclude(http, kintone, mappings, drain, **values) -> str:
    """A contract concluded in kintone (its webhook in); ``values`` by domain name (``client`` is the 派遣先)."""
    fields = {"contract_kind": "個別契約", "client": "株式会社サンプル物流", "sales_rep": SATO,
              "staff_name": "山田 花子", "staff_ids": STAFF, "commander": "物流課 高橋課長",
              "dispatch_start": "2026-10-01", "dispatch_end": "2027-03-31"}
    fields.update(values)
    rid = seed(kintone, mappings, "contracts", status="締結済", **fields)
    post(http, kintone, CONTRACTS, rid, "UPDATE_STATUS", drain)
    return rid


def records(kintone) -> list[dict]:
    return [kintone.record_values(FOLLOW_UPS, rid) for rid in sorted(kintone.apps[FOLLOW_UPS].records, key=int)]


def by_title(kintone, title: str) -> dict:
    [found] = [r for r in records(kintone) if r["フォロー名"] == title]
    return found


def row(issue: str, due: str | None, direction: str = "派遣先の総務に確認する", how: str = "電話で本人へ") -> dict:
    return {"value": {"相談内容": {"value": issue}, "対応方針": {"value": direction},
                      "対応期限": {"value": due or ""}, "報告方法": {"value": how}, "対応済": {"value": []}}}


def save_done(client, kintone, drain, rid: str, done: str, next_day: str | None, facts: str = "",
              rows: list[dict] | None = None) -> None:
    """The 担当者 records the follow-up in kintone and saves (an UPDATE_RECORD webhook)."""
    record = {"実施日": {"value": done}, "確認した事実": {"value": facts},
              "次回フォロー日": {"value": next_day or ""}}
    if rows is not None:
        record["相談・課題"] = {"value": rows}
    kintone.update_record(FOLLOW_UPS, rid, record)
    post(client, kintone, FOLLOW_UPS, rid, "UPDATE_RECORD", drain)


def test_a_next_date_near_a_planned_milestone_moves_it_and_carries_the_record_in(client, kintone, mappings, drain):
    conclude(client, kintone, mappings, drain)
    week_1 = by_title(kintone, "1週目フォロー")  # 2026-10-07
    rows = [row("休憩室の利用時間を知りたい", "2026-10-16"), row("制服のサイズ交換", "2026-10-09")]
    rows[1]["value"]["対応済"] = {"value": ["済"]}

    # On 10-07 they agree to meet again on 10-29: four days before the 1ヶ月フォロー of 11-02.
    save_done(client, kintone, drain, week_1["$id"], "2026-10-07", "2026-10-29",
              facts="趣味はマラソン。11月の大会に出る。", rows=rows)

    month_1 = by_title(kintone, "1ヶ月フォロー")
    assert month_1["予定日"] == "2026-10-29"  # moved, not a second record that week
    assert len([r for r in records(kintone) if r["区分"] == "スタッフフォロー"]) == 5
    assert month_1["前回フォロー"] == week_1["$id"]
    assert "趣味はマラソン。11月の大会に出る。" in month_1["前回の確認事項"]
    carried = [(r["value"]["相談内容"]["value"], r["value"]["対応期限"]["value"]) for r in month_1["相談・課題"]]
    assert carried == [("休憩室の利用時間を知りたい", "2026-10-16")]  # the open row only
    done = kintone.record_values(FOLLOW_UPS, week_1["$id"])
    assert done["完了判定"] == "完了" and done["引継ぎ先"] == month_1["$id"]
    [text] = kintone.comment_texts(FOLLOW_UPS, week_1["$id"])
    assert f"#{month_1['$id']}" in text and "2026年10月29日（木）に移しました" in text


def test_a_next_date_away_from_milestones_opens_a_new_linked_follow_up(client, kintone, mappings, drain):
    conclude(client, kintone, mappings, drain)
    month_1 = by_title(kintone, "1ヶ月フォロー")  # 11-02; the next planned one is 12-01

    save_done(client, kintone, drain, month_1["$id"], "2026-11-02", "2026-11-16", facts="残業は月5時間程度",
              rows=[row("通勤経路の変更", "2026-11-13")])

    new = by_title(kintone, "次回フォロー 2026年11月16日（月）")
    assert new["予定日"] == "2026-11-16" and new["スタッフID"] == STAFF and new["派遣終了日"] == "2027-03-31"
    assert new["前回フォロー"] == month_1["$id"] and "残業は月5時間程度" in new["前回の確認事項"]
    assert [r["value"]["相談内容"]["value"] for r in new["相談・課題"]] == ["通勤経路の変更"]
    assert by_title(kintone, "2ヶ月フォロー")["予定日"] == "2026-12-01"  # untouched


def test_a_follow_up_with_an_unsettled_issue_does_not_count_as_done(client, kintone, mappings, drain):
    conclude(client, kintone, mappings, drain)
    month_1 = by_title(kintone, "1ヶ月フォロー")

    save_done(client, kintone, drain, month_1["$id"], "2026-11-02", "2026-11-16",
              rows=[row("シフトの相談", None, direction="未定"), row("有給の取り方", "2026-10-30", how=""),
                    row("", None, direction="", how="")])  # the empty row kintone shows

    record = kintone.record_values(FOLLOW_UPS, month_1["$id"])
    assert record["完了判定"] is None and record["引継ぎ先"] == ""
    assert [r for r in records(kintone) if r["フォロー名"].startswith("次回フォロー")] == []
    [text] = kintone.comment_texts(FOLLOW_UPS, month_1["$id"])
    assert "このフォローはまだ完了になっていません" in text
    assert "「シフトの相談」：対応期限が未入力、対応方針が「未定」のまま" in text
    assert "「有給の取り方」：対応期限がフォロー実施日より前、報告方法が未入力" in text
    assert "3行目" not in text


def test_an_unsettled_follow_up_is_chased_until_fixed_then_opens_the_next(client, kintone, mappings, drain, ctx):
    conclude(client, kintone, mappings, drain)
    month_1 = by_title(kintone, "1ヶ月フォロー")
    save_done(client, kintone, drain, month_1["$id"], "2026-11-02", "2026-11-16", rows=[row("シフトの相談", None)])

    ctx.clock = lambda: at("2026-11-03T09:00")  # 11-03 is 文化の日: nobody is pinged
    deadlines.sweep(ctx)
    ctx.clock = lambda: at("2026-11-04T09:00")
    deadlines.sweep(ctx)
    overdue = kintone.comment_texts(FOLLOW_UPS, month_1["$id"])[-1]
    assert "フォロー実施" in overdue or "実施日" in overdue

    save_done(client, kintone, drain, month_1["$id"], "2026-11-02", "2026-11-16",
              rows=[row("シフトの相談", "2026-11-10")])

    assert kintone.record_values(FOLLOW_UPS, month_1["$id"])["完了判定"] == "完了"
    assert by_title(kintone, "次回フォロー 2026年11月16日（月）")["前回フォロー"] == month_1["$id"]


def test_the_schedule_stops_at_the_dispatch_end(client, kintone, mappings, drain):
    conclude(client, kintone, mappings, drain, dispatch_end="2026-11-30")

    titles = [r["フォロー名"] for r in records(kintone)]
    assert titles == ["初日フォロー", "お礼電話（初日）", "1週目フォロー", "更新意向確認（スタッフさん）",  # 10-16
                      "更新意向確認（指揮命令者）", "1ヶ月フォロー"]  # 10-30, 11-02; 12-01 is past the end
    month_1 = by_title(kintone, "1ヶ月フォロー")

    save_done(client, kintone, drain, month_1["$id"], "2026-11-02", "2026-12-07")

    assert len(records(kintone)) == 6
    text = kintone.comment_texts(FOLLOW_UPS, month_1["$id"])[-1]
    assert "「派遣終了日」（2026年11月30日（月））より後のため、次回フォローは登録していません" in text


def test_a_contract_ended_early_stops_the_follow_ups_after_that_day(client, kintone, mappings, drain, ctx):
    rid = conclude(client, kintone, mappings, drain)

    kintone.update_record(CONTRACTS, rid, {"中途終了日": {"value": "2026-11-13"}})
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)  # saved again: said once

    state = {r["フォロー名"]: (r["完了判定"], r["中止理由"]) for r in records(kintone)}
    assert state["1ヶ月フォロー"] == (None, "")
    assert state["2ヶ月フォロー"] == ("中止", "中途終了（2026年11月13日（金））")
    assert state["3ヶ月フォロー"] == ("中止", "中途終了（2026年11月13日（金））")
    texts = kintone.comment_texts(CONTRACTS, rid)
    [stopped] = [t for t in texts if "【スタッフフォロー予定の中止】" in t]
    assert len(texts) == 3  # the schedule, the stop, and a request to choose the 終了理由
    assert any("「終了理由」が未選択です" in t for t in texts)
    assert "2ヶ月フォロー（2026年12月1日（火））" in stopped and "3ヶ月フォロー" in stopped

    # A stopped follow-up is never chased.
    month_3 = by_title(kintone, "3ヶ月フォロー")
    ctx.clock = lambda: at("2027-01-05T09:00")
    deadlines.sweep(ctx)
    assert kintone.comment_texts(FOLLOW_UPS, month_3["$id"]) == []


def test_a_cancelled_contract_stops_every_open_follow_up(client, kintone, mappings, drain):
    rid = conclude(client, kintone, mappings, drain)
    stored = kintone.apps[CONTRACTS].records[rid]
    stored["ステータス"]["value"] = "取消"  # no action leads there from 締結済; an administrator's change
    stored["$revision"]["value"] = str(int(stored["$revision"]["value"]) + 1)

    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS", drain)

    assert {r["完了判定"] for r in records(kintone)} == {"中止"}
    assert {r["中止理由"] for r in records(kintone)} == {"契約取消"}


def test_one_timeline_across_a_renewal(client, kintone, mappings, drain):
    first = conclude(client, kintone, mappings, drain, dispatch_end="2026-12-31")
    renewal = conclude(client, kintone, mappings, drain, renewal_count="1", dispatch_start="2027-01-01",
                       dispatch_end="2027-03-31")
    month_2 = by_title(kintone, "2ヶ月フォロー")  # 12-01, the first contract's last
    renewal_follow_up = by_title(kintone, "更新1回目フォロー")  # 2027-01-04, the renewal's first

    save_done(client, kintone, drain, month_2["$id"], "2026-12-01", "2027-01-15", facts="更新を希望している",
              rows=[row("交通費の精算方法", "2026-12-18")])

    assert renewal_follow_up["契約レコード番号"] == renewal and month_2["契約レコード番号"] == first
    linked = kintone.record_values(FOLLOW_UPS, renewal_follow_up["$id"])
    assert linked["前回フォロー"] == month_2["$id"] and "更新を希望している" in linked["前回の確認事項"]
    assert [r["value"]["相談内容"]["value"] for r in linked["相談・課題"]] == ["交通費の精算方法"]
    assert not [r for r in records(kintone) if r["フォロー名"].startswith("次回フォロー")]


def test_a_renewal_concluded_later_continues_the_staff_members_timeline(client, kintone, mappings, drain):
    conclude(client, kintone, mappings, drain, dispatch_end="2026-12-31")
    month_2 = by_title(kintone, "2ヶ月フォロー")  # 12-01: no next date agreed, nothing planned after it
    save_done(client, kintone, drain, month_2["$id"], "2026-12-01", None, facts="更新を希望している",
              rows=[row("交通費の精算方法", "2026-12-18")])
    assert kintone.record_values(FOLLOW_UPS, month_2["$id"])["引継ぎ先"] == ""

    conclude(client, kintone, mappings, drain, renewal_count="1", dispatch_start="2027-01-01",
             dispatch_end="2027-03-31")
    conclude(client, kintone, mappings, drain, staff_ids="S-9999", dispatch_start="2027-01-01")  # someone else

    renewal_follow_up = by_title(kintone, "更新1回目フォロー")
    assert renewal_follow_up["前回フォロー"] == month_2["$id"]
    assert "更新を希望している" in renewal_follow_up["前回の確認事項"]
    assert [r["value"]["相談内容"]["value"] for r in renewal_follow_up["相談・課題"]] == ["交通費の精算方法"]
    assert kintone.record_values(FOLLOW_UPS, month_2["$id"])["引継ぎ先"] == renewal_follow_up["$id"]
    others = [r for r in records(kintone) if r["スタッフID"] == "S-9999"]
    assert others and all(r["前回フォロー"] == "" for r in others)


# -- a contract with several workers: one series, and one timeline, per worker ------------------

YAMADA, SUZUKI = "S-2001", "S-2002"


def of(kintone, staff_id: str, title: str) -> dict:
    [found] = [r for r in records(kintone) if r["スタッフID"] == staff_id and r["フォロー名"] == title]
    return found


def earlier_contract(client, kintone, mappings, drain, staff_id: str, name: str, company: str, facts: str,
                     issue: str) -> dict:
    """A worker's earlier contract (to 2026-12-31) whose last follow-up, 12-01, was done with nothing after it."""
    conclude(client, kintone, mappings, drain, staff_ids=staff_id, staff_name=name, client=company,
             dispatch_end="2026-12-31")
    month_2 = of(kintone, staff_id, "2ヶ月フォロー")
    save_done(client, kintone, drain, month_2["$id"], "2026-12-01", None, facts=facts,
              rows=[row(issue, "2026-12-18")])
    assert kintone.record_values(FOLLOW_UPS, month_2["$id"])["引継ぎ先"] == ""
    return month_2


def two_earlier_timelines(client, kintone, mappings, drain) -> tuple[dict, dict]:
    yamada = earlier_contract(client, kintone, mappings, drain, YAMADA, "山田 花子", "株式会社サンプル物流",
                              "更新を希望している", "交通費の精算方法")
    suzuki = earlier_contract(client, kintone, mappings, drain, SUZUKI, "鈴木 一郎", "株式会社あおば製作所",
                              "フォークリフトの資格を取った", "夜勤の回数を減らしたい")
    return yamada, suzuki


def conclude_two(client, kintone, mappings, drain, **values) -> str:
    """A new contract (更新回数 0) with a third client, for both workers."""
    fields = {"staff_ids": f"{YAMADA}、{SUZUKI}", "staff_name": "山田 花子、鈴木 一郎", "client": "株式会社みらい商事",
              "dispatch_start": "2027-01-04", "dispatch_end": "2027-06-30"}
    return conclude(client, kintone, mappings, drain, **{**fields, **values})


def carried(record: dict) -> list[str]:
    return [r["value"]["相談内容"]["value"] for r in record["相談・課題"]]


def test_a_contract_with_two_staff_ids_opens_a_series_for_each_continuing_their_own_timeline(
        client, kintone, mappings, drain):
    yamada_before, suzuki_before = two_earlier_timelines(client, kintone, mappings, drain)
    kintone.calls.clear()

    rid = conclude_two(client, kintone, mappings, drain)

    mine = [r for r in records(kintone) if r["契約レコード番号"] == rid]
    for staff_id, name in ((YAMADA, "山田 花子"), (SUZUKI, "鈴木 一郎")):
        series = [r for r in mine if r["スタッフID"] == staff_id]
        assert [(r["フォロー名"], r["予定日"]) for r in series] == [
            (f"{name}さんの初日フォロー", "2027-01-04"), (f"{name}さんの1週目フォロー", "2027-01-08"),
            (f"{name}さんの1ヶ月フォロー", "2027-02-04"), (f"{name}さんの2ヶ月フォロー", "2027-03-04"),
            (f"{name}さんの3ヶ月フォロー", "2027-04-05"),  # 04-04 is a Sunday
            (f"{name}さんの更新意向確認（スタッフさん）", "2027-05-14"),  # 45 days before 06-30 is a Sunday
            (f"{name}さんの更新意向確認（指揮命令者）", "2027-05-31")]
        assert {r["派遣スタッフ"] for r in series} == {name}
        assert len({r["管理キー"] for r in series}) == 7
    # The manager thanks the 指揮命令者 once for the contract, not once per worker.
    [thanks] = [r for r in mine if r["区分"] == "お礼電話"]
    assert (thanks["フォロー名"], thanks["予定日"], thanks["スタッフID"]) == ("お礼電話（初日）", "2027-01-04", "")
    assert len(mine) == 15

    # Each worker's first follow-up continues that worker's timeline, from another client's contract.
    for before, staff_id, name, facts, issue in (
            (yamada_before, YAMADA, "山田 花子", "更新を希望している", "交通費の精算方法"),
            (suzuki_before, SUZUKI, "鈴木 一郎", "フォークリフトの資格を取った", "夜勤の回数を減らしたい")):
        first = of(kintone, staff_id, f"{name}さんの初日フォロー")
        assert first["前回フォロー"] == before["$id"] and facts in first["前回の確認事項"]
        assert carried(first) == [issue]
        assert kintone.record_values(FOLLOW_UPS, before["$id"])["引継ぎ先"] == first["$id"]
        assert all(r["前回フォロー"] == "" for r in mine if r["スタッフID"] == staff_id and r != first)

    # The follow-ups app: one query for what exists, one for both workers' earlier timelines, one
    # add of all 15, one update pointing both earlier follow-ups forward (the same for one worker).
    assert {k: n for k, n in kintone.calls.items() if k[1] == FOLLOW_UPS} == {
        ("get_records", FOLLOW_UPS): 2, ("add_records", FOLLOW_UPS): 1, ("update_records", FOLLOW_UPS): 1}
    [told] = [t for t in kintone.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の作成】" in t]
    assert "山田 花子さん、鈴木 一郎さん（派遣先：株式会社みらい商事）のフォロー予定" in told
    assert "・鈴木 一郎さんの初日フォロー：2027年1月4日（月）\n・お礼電話（初日）：2027年1月4日（月）（上長から）" in told
    assert "スタッフさんごとに登録しています" in told


def test_a_re_run_for_a_contract_with_two_workers_opens_nothing_more(client, kintone, mappings, drain):
    two_earlier_timelines(client, kintone, mappings, drain)
    rid = conclude_two(client, kintone, mappings, drain)
    before = records(kintone)
    comments = kintone.comment_texts(CONTRACTS, rid)
    body = notification(kintone, CONTRACTS, rid, "UPDATE_STATUS")

    for _ in range(2):  # the same webhook delivered again, and a later save of the contract
        assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", json=body).status_code == 200
        drain()
        post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)

    assert records(kintone) == before
    assert kintone.comment_texts(CONTRACTS, rid) == comments


def test_a_failure_before_the_earlier_follow_ups_point_forward_is_finished_by_the_retry(
        client, kintone, mappings, drain):
    from connectors.kintone.errors import KintoneUnavailable

    yamada_before, suzuki_before = two_earlier_timelines(client, kintone, mappings, drain)
    kintone.fail_next("update_records", KintoneUnavailable("PUT records.json: 503", status=503))

    conclude_two(client, kintone, mappings, drain)  # added, then the link failed; the job is retried

    for before, staff_id, name in ((yamada_before, YAMADA, "山田 花子"), (suzuki_before, SUZUKI, "鈴木 一郎")):
        first = of(kintone, staff_id, f"{name}さんの初日フォロー")  # once
        assert first["前回フォロー"] == before["$id"]
        assert kintone.record_values(FOLLOW_UPS, before["$id"])["引継ぎ先"] == first["$id"]
    assert len(records(kintone)) == 2 * 7 + 15


def test_each_workers_next_date_moves_only_their_own_milestone(client, kintone, mappings, drain):
    conclude_two(client, kintone, mappings, drain)
    first = of(kintone, YAMADA, "山田 花子さんの初日フォロー")

    save_done(client, kintone, drain, first["$id"], "2027-01-04", "2027-01-07", facts="通勤は電車で40分")

    moved = of(kintone, YAMADA, "山田 花子さんの1週目フォロー")
    assert moved["予定日"] == "2027-01-07" and moved["前回フォロー"] == first["$id"]
    assert "通勤は電車で40分" in moved["前回の確認事項"]
    untouched = of(kintone, SUZUKI, "鈴木 一郎さんの1週目フォロー")
    assert untouched["予定日"] == "2027-01-08" and untouched["前回フォロー"] == ""


def test_a_later_new_contract_with_another_client_continues_the_workers_timeline(client, kintone, mappings, drain):
    month_2 = earlier_contract(client, kintone, mappings, drain, STAFF, "山田 花子", "株式会社サンプル物流",
                               "事務の仕事も覚えたい", "有給休暇の残日数")
    # Not a renewal: 更新回数 0, another client, the first three months again.
    rid = conclude(client, kintone, mappings, drain, client="株式会社みらい商事", dispatch_start="2027-02-01",
                   dispatch_end="2027-07-30")

    [first] = [r for r in records(kintone) if r["契約レコード番号"] == rid and r["フォロー名"] == "初日フォロー"]
    assert first["スタッフID"] == STAFF and first["派遣先"] == "株式会社みらい商事"
    assert first["前回フォロー"] == month_2["$id"] and "事務の仕事も覚えたい" in first["前回の確認事項"]
    assert carried(first) == ["有給休暇の残日数"]
    assert kintone.record_values(FOLLOW_UPS, month_2["$id"])["引継ぎ先"] == first["$id"]
    assert [r["フォロー名"] for r in records(kintone) if r["契約レコード番号"] == rid][:3] == [
        "初日フォロー", "お礼電話（初日）", "1週目フォロー"]


def test_the_dispatch_end_an_early_end_and_a_cancellation_stop_both_workers(client, kintone, mappings, drain):
    rid = conclude_two(client, kintone, mappings, drain, dispatch_end="2027-03-31")
    assert not [r for r in records(kintone) if r["予定日"] > "2027-03-31"]  # 3ヶ月フォロー 04-05: nobody's

    kintone.update_record(CONTRACTS, rid, {"中途終了日": {"value": "2027-02-12"}})
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)

    state = {(r["スタッフID"], r["フォロー名"]): (r["完了判定"], r["中止理由"]) for r in records(kintone)}
    for staff_id, name in ((YAMADA, "山田 花子"), (SUZUKI, "鈴木 一郎")):
        assert state[(staff_id, f"{name}さんの1ヶ月フォロー")] == (None, "")  # 02-04
        assert state[(staff_id, f"{name}さんの2ヶ月フォロー")] == ("中止", "中途終了（2027年2月12日（金））")
    [stopped] = [t for t in kintone.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の中止】" in t]
    assert "・山田 花子さんの2ヶ月フォロー（2027年3月4日（木））" in stopped
    assert "・鈴木 一郎さんの2ヶ月フォロー（2027年3月4日（木））" in stopped

    stored = kintone.apps[CONTRACTS].records[rid]
    stored["ステータス"]["value"] = "取消"  # an administrator's change
    stored["$revision"]["value"] = str(int(stored["$revision"]["value"]) + 1)
    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS", drain)

    assert {r["完了判定"] for r in records(kintone)} == {"中止"}
    assert {r["スタッフID"] for r in records(kintone) if r["中止理由"] == "契約取消"} == {YAMADA, SUZUKI, ""}


def test_a_worker_added_to_a_concluded_contract_gets_a_series_and_the_first_keeps_theirs(
        client, kintone, mappings, drain):
    rid = conclude(client, kintone, mappings, drain, staff_ids=YAMADA)
    first_series = records(kintone)

    kintone.update_record(CONTRACTS, rid, {"派遣スタッフID": {"value": f"{YAMADA}, {SUZUKI}"}})  # no names to pair
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)

    assert records(kintone)[:len(first_series)] == first_series  # nothing twice for 山田さん
    added = records(kintone)[len(first_series):]
    assert {r["スタッフID"] for r in added} == {SUZUKI} and len(added) == 7  # the thank-you call was made
    assert added[0]["フォロー名"] == "スタッフさん（スタッフID：S-2002）の初日フォロー"
    assert len([t for t in kintone.comment_texts(CONTRACTS, rid) if "【スタッフフォロー予定の作成】" in t]) == 2


def test_a_contract_left_with_one_of_its_two_workers_plans_nothing_again(client, kintone, mappings, drain):
    rid = conclude_two(client, kintone, mappings, drain)
    before = records(kintone)

    kintone.update_record(CONTRACTS, rid, {"派遣スタッフID": {"value": SUZUKI}, "派遣スタッフ": {"value": "鈴木 一郎"}})
    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)

    assert records(kintone) == before  # 鈴木さん's series is theirs under the other key form


def test_a_shared_series_made_before_each_worker_had_one_is_left_as_it_is(client, kintone, mappings, drain):
    rid = seed(kintone, mappings, "contracts", status="締結済", contract_kind="個別契約", client="株式会社みらい商事",
               sales_rep=SATO, staff_name="山田 花子、鈴木 一郎", staff_ids=f"{YAMADA}、{SUZUKI}",
               dispatch_start="2027-01-04", dispatch_end="2027-06-30")
    for key, title in (("first_day", "初日フォロー"), ("thanks_first_day", "お礼電話（初日）"), ("week_1", "1週目フォロー"),
                       ("month_1", "1ヶ月フォロー"), ("month_2", "2ヶ月フォロー"), ("month_3", "3ヶ月フォロー"),
                       ("renewal_intent_staff_2027-06-30", "更新意向確認（スタッフさん）"),
                       ("renewal_intent_commander_2027-06-30", "更新意向確認（指揮命令者）")):
        seed(kintone, mappings, "follow_ups", schedule_key=f"{rid}:{key}", title=title, contract_record_id=rid)

    post(client, kintone, CONTRACTS, rid, "UPDATE_RECORD", drain)

    assert len(records(kintone)) == 8  # no second series on top of the one the rep already follows
