"""A staff follow-up's open 相談・課題 past their 対応期限: the 担当者 and 上長 are told once, on a business
day; resolved and not-yet-due rows are left alone (seed 001)."""

from __future__ import annotations

from datetime import datetime

from flows.follow_up_issues import remind_overdue_issues

FOLLOW_UPS = "7"
TUESDAY = datetime.fromisoformat("2026-11-24T10:00:00+09:00")
SATURDAY = datetime.fromisoformat("2026-11-28T10:00:00+09:00")


def _row(row_id: str, issue: str, due: str, resolved: bool = False, how: str = "") -> dict:
    return {"id": row_id, "value": {
        "相談内容": {"type": "MULTI_LINE_TEXT", "value": issue},
        "対応方針": {"type": "MULTI_LINE_TEXT", "value": ""},
        "対応期限": {"type": "DATE", "value": due},
        "報告方法": {"type": "SINGLE_LINE_TEXT", "value": how},
        "対応済": {"type": "CHECK_BOX", "value": ["済"] if resolved else []},
    }}


def _follow_up(kintone, rows: list[dict]) -> str:
    return kintone.seed(FOLLOW_UPS, {
        "フォロー名": "1ヶ月フォロー", "派遣スタッフ": "山本 さくら", "区分": "スタッフフォロー",
        "担当者": [{"code": "sato", "name": "佐藤 一郎"}], "上長": [{"code": "tanaka", "name": "田中 部長"}],
        "相談・課題": rows})


def test_overdue_open_issues_are_told_once_to_the_owner_and_supervisor(ctx, kintone):
    ctx.clock = lambda: TUESDAY
    rid = _follow_up(kintone, [_row("1", "休憩室の利用時間", "2026-11-20", how="電話で本人へ"),
                               _row("2", "制服のサイズ交換", "2026-11-19", resolved=True),
                               _row("3", "通勤経路の変更", "2026-12-10")])
    quiet = _follow_up(kintone, [_row("4", "シフトの相談", "2026-12-01")])

    assert remind_overdue_issues(ctx) == "swept"
    assert remind_overdue_issues(ctx) == "swept"

    [comment] = kintone.apps[FOLLOW_UPS].comments[rid]
    assert "休憩室の利用時間" in comment.text and "電話で本人へ" in comment.text
    assert "フォロー「1ヶ月フォロー」（山本 さくらさん）の「相談・課題」に" in comment.text
    assert "\nスタッフさんは回答を待っています。" in comment.text
    assert "制服のサイズ交換" not in comment.text and "通勤経路の変更" not in comment.text
    assert [m.code for m in comment.mentions] == ["sato", "tanaka"]
    assert kintone.comment_texts(FOLLOW_UPS, quiet) == []


def test_a_newly_overdue_issue_is_told_again_with_the_current_list(ctx, kintone):
    ctx.clock = lambda: TUESDAY
    rid = _follow_up(kintone, [_row("1", "休憩室の利用時間", "2026-11-20")])
    remind_overdue_issues(ctx)
    table = kintone.record_values(FOLLOW_UPS, rid)["相談・課題"]
    kintone.update_record(FOLLOW_UPS, rid, {"相談・課題": {"value": [*table, _row("5", "残業の申請方法", "2026-11-23")]}})

    remind_overdue_issues(ctx)

    texts = kintone.comment_texts(FOLLOW_UPS, rid)
    assert len(texts) == 2 and "残業の申請方法" in texts[1] and "休憩室の利用時間" in texts[1]


def test_nobody_is_pinged_on_a_weekend(ctx, kintone):
    ctx.clock = lambda: SATURDAY
    rid = _follow_up(kintone, [_row("1", "休憩室の利用時間", "2026-11-20")])
    kintone.calls.clear()

    assert remind_overdue_issues(ctx) == "outside_working_time"
    assert kintone.comment_texts(FOLLOW_UPS, rid) == [] and sum(kintone.calls.values()) == 0


def test_an_idle_check_costs_one_kintone_call(ctx, kintone):
    ctx.clock = lambda: TUESDAY
    _follow_up(kintone, [_row("1", "休憩室の利用時間", "2026-12-20")])
    kintone.calls.clear()

    remind_overdue_issues(ctx)

    assert sum(kintone.calls.values()) == 1
