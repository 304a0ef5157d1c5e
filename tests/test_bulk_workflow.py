"""稟議 applications found in bulk (issue 17): ``flows.workflow.decide`` is the one place the 06_1 /
06_2 rules are judged; it writes nothing, and the per-record job carries its Decision out.

Fake kintone, real Redis.
"""

from __future__ import annotations

import pytest

from flows import workflow
from tests.people import CHECKED, CLIENTS, TUESDAY_MORNING, WORKFLOW, new_client, status_of
from tests.records import SATO

CREDIT, TRADE = "06_1 反社・与信チェック", "06_2 取引開始・契約書類締結"
TANAKA = [{"code": "tanaka", "name": "田中 部長"}]
DIRECTOR = [{"code": "kimura", "name": "木村 取締役"}]


@pytest.fixture(autouse=True)
def tuesday(ctx):
    ctx.clock = lambda: TUESDAY_MORNING


def application(kintone, client: str, kind: str = CREDIT, status: str = "申請中", **changes) -> str:
    """A 稟議 application of the client as a rep fills it in (06_1: every A-4 check item, all clear;
    changes as field code=value, None to leave an item empty)."""
    values = {"申請種別": kind, "件名": f"{kind} #{client}", "顧客": "有限会社はじめて製作所", "顧客レコード番号": client,
              "申請者": SATO, "上長": TANAKA, "申請日": "2026-11-20",
              **(CHECKED if kind == CREDIT else {"定形外契約書": "無"})}
    for code, value in changes.items():
        if value is None:
            values.pop(code, None)
        else:
            values[code] = value
    return kintone.seed(WORKFLOW, values, status=status)


def read(ctx, record_id: str) -> tuple[dict, str | None]:
    wf = ctx.mappings["workflow"]
    values = wf.read(ctx.kintone.get_record(wf.id, record_id))
    return values, wf.status_key(values.get("status"))


def writes(kintone) -> list:
    return [call for call in kintone.calls if not call[0].startswith("get_")]


def test_deciding_an_application_writes_nothing_and_names_the_comment_and_the_action(ctx, kintone):
    client = new_client(kintone, credit="審査中")
    incomplete = application(kintone, client, 信用調査機関の評価=None, 遵法性=None)
    values, status = read(ctx, incomplete)
    kintone.calls.clear()

    decision = workflow.decide(ctx, ctx.mappings["workflow"], values, status)

    assert (decision.outcome, decision.action, decision.assignee) == ("sent_back", "send_back", "sato")
    assert "・信用調査機関の評価（評点）\n・遵法性" in decision.comment
    assert not kintone.calls  # a 06_1's rules read nothing
    assert (status_of(kintone, WORKFLOW, incomplete), kintone.comment_texts(WORKFLOW, incomplete)) == ("申請中", [])

    assert workflow.carry_out(ctx, ctx.mappings["workflow"], values, decision) == "sent_back"
    assert status_of(kintone, WORKFLOW, incomplete) == "作成中"
    assert [decision.comment] == kintone.comment_texts(WORKFLOW, incomplete)


def test_a_06_2s_decision_reads_its_client_once_and_a_client_passed_in_not_at_all(ctx, kintone):
    client = new_client(kintone, credit="承認")
    trade = application(kintone, client, kind=TRADE, status="上長承認済")
    values, status = read(ctx, trade)
    wf = ctx.mappings["workflow"]
    kintone.calls.clear()

    decision = workflow.decide(ctx, wf, values, status)
    assert (decision.outcome, decision.action, decision.effects) == ("decided", "decide", "approved")
    assert kintone.calls == {("get_record", CLIENTS): 1} and writes(kintone) == []

    kintone.calls.clear()
    again, _ = read(ctx, trade)
    again["_client"] = ctx.mappings["clients"].read(kintone.get_record(CLIENTS, client))  # as a page reads it
    kintone.calls.clear()
    assert workflow.decide(ctx, wf, again, status) == decision
    assert not kintone.calls


def test_a_director_needed_at_approval_is_one_comment_and_the_director_action(ctx, kintone):
    client = new_client(kintone, credit="審査中")
    low = application(kintone, client, status="上長承認済", 信用調査機関の評価="48", 取締役=DIRECTOR)
    values, status = read(ctx, low)

    decision = workflow.decide(ctx, ctx.mappings["workflow"], values, status)

    assert (decision.action, decision.assignee, [u.code for u in decision.users]) == (
        "request_director_approval", "kimura", ["kimura"])
    assert "「信用調査機関の評価（評点）」（48）が基準（60）未満" in decision.comment
    assert workflow.run(ctx, "workflow", low) == "sent_to_director"
    assert status_of(kintone, WORKFLOW, low) == "取締役承認待ち"
    assert kintone.comment_texts(WORKFLOW, low) == [decision.comment]
