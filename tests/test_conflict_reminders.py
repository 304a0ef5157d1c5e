"""抵触日 reminders as deadline rules (issue 11): three months before a contract's 抵触日 the rep is
asked for the client's plan (意見聴取 or an end), one month before for the notices to the client and
the worker; each is done only when its dated record is filled. Only the current contract of a site
(the latest 派遣終了日) is reminded: renewals share the 抵触日. Frozen time, fake kintone, real Redis."""

from __future__ import annotations

from flows import deadlines
from mappings.deadlines import Rule
from tests.records import SATO, at, seed

CONTRACTS = "5"


def sweep_at(ctx, text: str) -> str:
    ctx.clock = lambda: at(text)
    return deadlines.sweep(ctx)


def texts(kintone, rid: str) -> list[str]:
    """The 抵触日 reminders on the contract (other rules, e.g. the renewal decision, remind it too)."""
    return [c.text for c in kintone.apps[CONTRACTS].comments[rid] if "抵触日" in c.text]


def concluded(kintone, mappings, **values) -> str:
    fields = dict(contract_kind="個別契約", client="株式会社サンプル物流", client_record_id="1", sales_rep=SATO,
                  work_site="東京物流センター", conflict_date="2027-04-01", dispatch_start="2026-10-01",
                  dispatch_end="2027-03-31")
    fields.update(values)
    return seed(kintone, mappings, "contracts", status="締結済", **fields)


def test_three_months_before_the_conflict_date_the_rep_is_asked_for_the_clients_plan(ctx, kintone, mappings):
    rid = concluded(kintone, mappings)

    sweep_at(ctx, "2026-12-28T10:00")  # Mon; the reminder day is Fri 2027-01-01 - a holiday
    assert texts(kintone, rid) == []
    sweep_at(ctx, "2027-01-04T10:00")  # the first business day from three months before
    [reminder] = texts(kintone, rid)
    assert "個別契約の抵触日「株式会社サンプル物流」の抵触日への対応方針" in reminder
    assert "2027年3月1日（月）が期限です" in reminder  # one month before the 抵触日
    assert "意見聴取" in reminder and "【未入力の項目】\n・抵触日への対応方針\n・対応方針を派遣先に確認した日" in reminder

    sweep_at(ctx, "2027-01-05T10:00")
    assert len(texts(kintone, rid)) == 1  # said once


def test_a_recorded_plan_ends_the_reminders_and_a_late_one_reaches_the_supervisor(ctx, kintone, mappings):
    done = concluded(kintone, mappings, work_site="千葉倉庫", conflict_plan="意見聴取で延長",
                     conflict_plan_confirmed_on="2027-01-06")
    late = concluded(kintone, mappings, work_site="大阪工場")

    sweep_at(ctx, "2027-03-02T10:00")

    assert [t for t in texts(kintone, done) if "対応方針" in t] == []
    [escalation] = [c for c in kintone.apps[CONTRACTS].comments[late] if "対応方針" in c.text]
    assert [m.code for m in escalation.mentions] == ["sato", "tanaka"]


def test_one_month_before_the_client_and_the_worker_must_be_told_each_with_its_date(ctx, kintone, mappings):
    rid = concluded(kintone, mappings, conflict_plan="抵触日の前日で派遣終了", conflict_plan_confirmed_on="2027-01-06")

    sweep_at(ctx, "2027-02-26T10:00")  # Fri: the notice reminder starts a month before Wed 03-31
    assert texts(kintone, rid) == []
    sweep_at(ctx, "2027-03-01T10:00")
    [reminder] = texts(kintone, rid)
    assert "派遣先とスタッフさんへの抵触日の通知は、2027年3月31日（水）が期限です" in reminder
    assert "・派遣先へ抵触日到来を通知した日\n・派遣スタッフへ抵触日到来を通知した日" in reminder

    kintone.update_record(CONTRACTS, rid, {"抵触日到来通知日派遣先": {"value": "2027-03-02"}})
    sweep_at(ctx, "2027-04-01T10:00")  # only the worker's notice is recorded: overdue
    assert "・派遣スタッフへ抵触日到来を通知した日" in texts(kintone, rid)[-1]
    assert "派遣先へ抵触日到来を通知した日\n" not in texts(kintone, rid)[-1]


def test_only_the_current_contract_of_a_site_is_reminded(ctx, kintone, mappings):
    earlier = concluded(kintone, mappings, dispatch_start="2026-04-01", dispatch_end="2026-09-30")
    current = concluded(kintone, mappings)
    elsewhere = concluded(kintone, mappings, work_site="千葉倉庫", dispatch_end="2026-12-31")

    sweep_at(ctx, "2027-01-04T10:00")

    assert texts(kintone, earlier) == []
    assert len(texts(kintone, current)) == 1 and len(texts(kintone, elsewhere)) == 1

    # the current one records the plan: the earlier one is not reminded in its place
    kintone.update_record(CONTRACTS, current, {"抵触日対応方針": {"value": "派遣先で直接雇用"},
                                               "抵触日対応確認日": {"value": "2027-01-04"}})
    sweep_at(ctx, "2027-03-02T10:00")
    assert texts(kintone, earlier) == []


def test_a_month_span_is_a_calendar_month_and_needs_a_whole_day_limit():
    import pytest
    from pydantic import ValidationError

    base = dict(name="x", app="contracts", subject="s", task="t", start="conflict_date", responsible="sales_rep",
                done_when=[{"field": "conflict_plan", "filled": True}], remind_text="r", overdue_text="o")
    Rule.model_validate({**base, "limit": {"months": -1}, "remind_before": {"months": 2}})
    Rule.model_validate({**base, "limit": {"business_days": -1}, "remind_before": {"months": 1}})
    with pytest.raises(ValidationError, match="remind_before must use the unit"):
        Rule.model_validate({**base, "limit": {"business_hours": 24}, "remind_before": {"months": 1}})
    with pytest.raises(ValidationError, match="exactly one"):
        Rule.model_validate({**base, "limit": {"months": -1, "business_days": 1}})
