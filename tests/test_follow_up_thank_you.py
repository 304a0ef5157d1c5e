"""Thank-you calls (issue 13, seed 001 ❷): the manager's call to the 指揮命令者 records who called, when,
and what the client asked for; a request becomes a 相談・課題 row with its 対応期限 and is chased like
any other. A webhook in (the call saved in kintone), the kintone records out."""

from __future__ import annotations

import pytest

from flows.follow_up_issues import remind_overdue_issues
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
from tests.records import SATO, at, seed, utc
from webhooks import create_app

CONTRACTS, FOLLOW_UPS = "5", "7"
TANAKA = [{"code": "tanaka", "name": "田中 部長"}]


@pytest.fixture
def client(settings, redis_conn, ctx):
    ctx.clock = lambda: at("2026-10-01T16:00")
    return create_app(settings, connection=redis_conn).test_client()


def post(client, kintone, app: str, rid: str, event: str, drain) -> None:
    body = notification(kintone, app, rid, event)
    assert client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", json=body).status_code == 200
    drain()


@pytest.fixture
def call(client, kintone, mappings, drain) -> str:
    """The 初日 thank-you call of a concluded contract, as the schedule created it."""
    rid = seed(kintone, mappings, "contracts", status="締結済", contract_kind="個別契約", sales_rep=SATO,
               client="株式会社サンプル物流", staff_name="山田 花子", staff_ids="S-4001",
               commander="物流課 高橋課長", dispatch_start="2026-10-01", dispatch_end="2027-03-31")
    post(client, kintone, CONTRACTS, rid, "UPDATE_STATUS", drain)
    [found] = [r for r in kintone.apps[FOLLOW_UPS].records
               if kintone.record_values(FOLLOW_UPS, r)["フォロー名"] == "お礼電話（初日）"]
    return found


def save(client, kintone, drain, rid: str, **cells) -> None:
    kintone.update_record(FOLLOW_UPS, rid, {code: {"value": value} for code, value in cells.items()})
    post(client, kintone, FOLLOW_UPS, rid, "UPDATE_RECORD", drain)


def test_a_call_saved_without_who_and_when_does_not_count_as_done(client, kintone, drain, call):
    save(client, kintone, drain, call, 実施日="2026-10-01")

    [text] = kintone.comment_texts(FOLLOW_UPS, call)
    assert "「架電者」が未入力です" in text and "「架電日時」が未入力です" in text
    assert kintone.record_values(FOLLOW_UPS, call)["完了判定"] is None


def test_the_clients_request_becomes_an_issue_row_with_its_deadline(client, kintone, drain, call, ctx):
    save(client, kintone, drain, call, 実施日="2026-10-01", 架電者=TANAKA, 架電日時=utc("2026-10-01T15:30"),
         先方の要望="朝礼の開始時刻（8:45）を本人に改めて伝えてほしい")

    record = kintone.record_values(FOLLOW_UPS, call)
    [row] = [r["value"] for r in record["相談・課題"]]
    assert row["相談内容"]["value"] == "朝礼の開始時刻（8:45）を本人に改めて伝えてほしい"
    assert row["対応期限"]["value"] == "2026-10-08"  # 5 business days after Thu 10-01
    assert row["報告方法"]["value"] == "上長から指揮命令者へお電話で報告"
    assert record["完了判定"] is None  # the direction is the manager's to settle
    assert "対応方針が未入力" in kintone.comment_texts(FOLLOW_UPS, call)[-1]

    rows = record["相談・課題"]
    rows[0]["value"]["対応方針"] = {"type": "MULTI_LINE_TEXT", "value": "担当営業が明日の訪問時に本人へ伝える"}
    save(client, kintone, drain, call, **{"相談・課題": rows})

    record = kintone.record_values(FOLLOW_UPS, call)
    assert record["完了判定"] == "完了" and len(record["相談・課題"]) == 1  # the request is one row, once
    assert [u["code"] for u in record["架電者"]] == ["tanaka"] and record["架電日時"] == "2026-10-01T06:30:00Z"

    # Not ticked 対応済 by its 対応期限: the 担当者 and 上長 hear of it.
    ctx.clock = lambda: at("2026-10-09T10:00")
    remind_overdue_issues(ctx)
    assert "朝礼の開始時刻" in kintone.comment_texts(FOLLOW_UPS, call)[-1]
