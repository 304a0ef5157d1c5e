"""The deadline sweep with frozen time, the fake kintone and a real Redis.

Dates used (2026): Fri 10-09; Mon 10-12 is スポーツの日; Fri 10-16; Mon 10-19.
"""

from __future__ import annotations

import pytest

from flows import deadlines
from kgbridge import bootstrap
from kgbridge.settings import load_settings
from tests.records import SATO, SUZUKI, at, seed, utc, with_digest

INQUIRIES, CONTRACTS, VISITS, FOLLOW_UPS = "2", "5", "6", "7"


def sweep_at(ctx, text: str) -> str:
    ctx.clock = lambda: at(text)
    return deadlines.sweep(ctx)


def comments(kintone, app: str, rid: str):
    return kintone.apps[app].comments[rid]


def mentioned(comment) -> list[str]:
    return [m.code for m in comment.mentions]


def hp_inquiry(kintone, mappings, received: str, **values) -> str:
    fields = {"channel": "HP", "received_at": utc(received), "company_name": "株式会社サンプル物流",
              "sales_rep": SATO}
    fields.update(values)
    return seed(kintone, mappings, "inquiries", **fields)


# -- the HP inquiry: first contact within 1 business day ------------------------------------

def test_hp_inquiry_from_friday_evening_before_a_holiday_monday_is_reminded_on_tuesday_morning(ctx, kintone, mappings):
    rid = hp_inquiry(kintone, mappings, "2026-10-09T19:30")

    for moment in ("2026-10-09T19:45", "2026-10-10T10:00", "2026-10-11T15:00", "2026-10-12T10:00",
                   "2026-10-13T08:30"):
        assert sweep_at(ctx, moment) == "outside_working_time"
    assert sum(kintone.calls.values()) == 0  # nobody's weekend or holiday costs a kintone call either

    assert sweep_at(ctx, "2026-10-13T09:00") == "swept"
    [reminder] = comments(kintone, INQUIRIES, rid)
    assert mentioned(reminder) == ["sato"]
    assert "HPからのお問い合わせ「株式会社サンプル物流」の初回連絡は、本日2026年10月13日（火）が期限です" in reminder.text
    assert "受付日時：2026年10月9日（金）19:30" in reminder.text
    assert "「初回連絡日時」を入力してください" in reminder.text


def test_an_unanswered_hp_inquiry_escalates_to_the_supervisor_once_the_next_business_day(ctx, kintone, mappings):
    rid = hp_inquiry(kintone, mappings, "2026-10-09T19:30")

    for moment in ("2026-10-13T09:00", "2026-10-13T15:00", "2026-10-14T09:05", "2026-10-14T16:00",
                   "2026-10-15T09:00"):
        sweep_at(ctx, moment)

    reminder, escalation = comments(kintone, INQUIRIES, rid)  # and nothing more, however often swept
    assert "【初回連絡のお願い】" in reminder.text
    assert mentioned(escalation) == ["sato", "tanaka"]
    assert "【初回連絡の期限超過】" in escalation.text
    assert "期限（2026年10月13日（火））を過ぎています" in escalation.text
    # each person is addressed on a line of their own, as a sales manager writes it
    assert "\n\n担当営業：至急お客様にご連絡のうえ、「初回連絡日時」を入力してください。" in escalation.text
    assert "\n上長：状況をご確認のうえ、必要に応じて担当者にご指示ください。" in escalation.text


def test_an_inquiry_contacted_in_time_and_a_phone_inquiry_get_no_reminder(ctx, kintone, mappings):
    contacted = hp_inquiry(kintone, mappings, "2026-10-09T19:30", first_contact_at=utc("2026-10-13T11:00"))
    by_phone = hp_inquiry(kintone, mappings, "2026-10-09T19:30", channel="電話")

    sweep_at(ctx, "2026-10-13T09:00")
    sweep_at(ctx, "2026-10-14T09:00")

    assert comments(kintone, INQUIRIES, contacted) == []
    assert comments(kintone, INQUIRIES, by_phone) == []


def test_an_inquiry_without_a_sales_rep_asks_the_default_supervisor_to_assign_one(ctx, kintone, mappings):
    rid = hp_inquiry(kintone, mappings, "2026-10-09T19:30", sales_rep=[])

    sweep_at(ctx, "2026-10-13T09:00")

    [reminder] = comments(kintone, INQUIRIES, rid)
    assert mentioned(reminder) == ["tanaka"]
    assert "「担当営業」が未設定のため、上長にお知らせしています。\n上長：担当者を決めて「担当営業」を設定してください。" in reminder.text


def test_an_inquiry_first_seen_after_its_deadline_gets_only_the_escalation(ctx, kintone, mappings):
    rid = hp_inquiry(kintone, mappings, "2026-10-05T10:00")

    sweep_at(ctx, "2026-10-08T10:00")
    sweep_at(ctx, "2026-10-08T11:00")

    [escalation] = comments(kintone, INQUIRIES, rid)
    assert "期限（2026年10月6日（火））を過ぎています" in escalation.text


def test_a_moved_start_gets_fresh_reminders_for_its_new_deadline(ctx, kintone, mappings):
    rid = hp_inquiry(kintone, mappings, "2026-10-09T19:30")
    sweep_at(ctx, "2026-10-13T09:00")
    kintone.update_record(INQUIRIES, rid, {"受付日時": {"value": utc("2026-10-13T10:00")}})  # it was mistyped

    sweep_at(ctx, "2026-10-13T15:00")
    sweep_at(ctx, "2026-10-14T09:00")

    texts = [c.text for c in comments(kintone, INQUIRIES, rid)]
    assert len(texts) == 2 and "本日2026年10月14日（水）が期限です" in texts[1]


def test_company_holidays_from_the_settings_move_the_deadline(ctx, kintone, mappings, redis_url, monkeypatch):
    monkeypatch.setenv("KGBRIDGE_COMPANY_HOLIDAYS", "2026-10-13, 05-01")
    ctx.calendar = bootstrap.build_calendar(load_settings(connector_mode="fake", redis_url=redis_url))
    rid = hp_inquiry(kintone, mappings, "2026-10-09T19:30")

    assert sweep_at(ctx, "2026-10-13T09:00") == "outside_working_time"
    sweep_at(ctx, "2026-10-14T09:00")

    [reminder] = comments(kintone, INQUIRIES, rid)
    assert "本日2026年10月14日（水）が期限です" in reminder.text


# -- visits: the record within 24 hours (of business days) ----------------------------------

def test_a_friday_visit_record_is_due_monday_and_escalates_to_the_supervisor_on_the_record(ctx, kintone, mappings):
    rid = seed(kintone, mappings, "visits", client="株式会社サンプル物流", sales_rep=SATO, supervisor=SUZUKI,
               visited_at=utc("2026-10-16T15:00"))

    sweep_at(ctx, "2026-10-16T17:00")
    assert comments(kintone, VISITS, rid) == []
    sweep_at(ctx, "2026-10-19T09:00")
    sweep_at(ctx, "2026-10-19T14:50")
    sweep_at(ctx, "2026-10-19T15:10")

    reminder, escalation = comments(kintone, VISITS, rid)
    assert mentioned(reminder) == ["sato"] and "2026年10月19日（月）15:00が期限です" in reminder.text
    assert "「訪問記録」に" in reminder.text
    assert mentioned(escalation) == ["sato", "suzuki"]


def test_a_written_visit_record_ends_the_reminders(ctx, kintone, mappings):
    rid = seed(kintone, mappings, "visits", sales_rep=SATO, visited_at=utc("2026-10-16T15:00"),
               report="物流センターの入出荷。安全靴支給あり。")

    sweep_at(ctx, "2026-10-19T16:00")

    assert comments(kintone, VISITS, rid) == []


# -- contracts: items within 2 days; late contracts need a reason ---------------------------

def test_missing_contract_items_are_listed_on_day_one_and_escalated_after_day_two(ctx, kintone, mappings):
    rid = seed(kintone, mappings, "contracts", status="作成中", contract_kind="個別契約",
               client="株式会社サンプル物流", sales_rep=SATO, work_location="東京都江東区", job_description="検品",
               break_time="60分", dispatch_start="2026-11-02", dispatch_end="2027-01-31",
               complaint_contact="人事部 03-0000-0000", created_at=utc("2026-10-19T10:00"))

    sweep_at(ctx, "2026-10-19T15:00")
    sweep_at(ctx, "2026-10-20T09:00")
    sweep_at(ctx, "2026-10-21T09:00")
    sweep_at(ctx, "2026-10-22T09:00")

    reminder, escalation = comments(kintone, CONTRACTS, rid)
    assert "本日2026年10月21日（水）が期限です" not in reminder.text and "2026年10月21日（水）が期限です" in reminder.text
    assert "【未入力の項目】\n・賃金\n・指揮命令者" in reminder.text
    assert mentioned(escalation) == ["sato", "tanaka"]
    assert "・賃金\n・指揮命令者" in escalation.text


def test_the_commander_and_the_work_site_are_asked_for_in_their_parts_until_every_part_is_in(ctx, kintone, mappings):
    items = dict(client="株式会社サンプル物流", sales_rep=SATO, work_location="東京都江東区 3階", job_description="検品",
                 wage="1,500円", break_time="60分", dispatch_start="2026-11-02", dispatch_end="2027-01-31",
                 commander="山田 太郎", complaint_contact="人事部 03-0000-0000", created_at=utc("2026-10-19T10:00"))
    parts = dict(commander_department="物流部", commander_title="課長", commander_phone="03-1234-5678",
                 work_site="江東センター", work_site_address="東京都江東区新木場1-2-3", work_site_phone="03-1234-0000",
                 organization_unit="物流部")
    one_line = seed(kintone, mappings, "contracts", status="作成中", contract_kind="個別契約", **items)
    complete = seed(kintone, mappings, "contracts", status="作成中", contract_kind="個別契約", **items, **parts)

    sweep_at(ctx, "2026-10-20T09:00")  # the day before the due day (2 business days after 10-19)

    [reminder] = comments(kintone, CONTRACTS, one_line)
    assert ("【未入力の項目】\n・指揮命令者の部署\n・指揮命令者の役職\n・指揮命令者の電話番号\n・派遣先事業所"
            "\n・派遣先事業所の所在地\n・派遣先事業所の電話番号\n・組織単位") in reminder.text
    assert comments(kintone, CONTRACTS, complete) == []  # every item in: nothing to ask


def test_a_late_contract_without_a_delay_reason_is_asked_for_one_and_the_reason_goes_to_the_supervisor(
        ctx, kintone, mappings):
    rid = seed(kintone, mappings, "contracts", status="署名依頼中", contract_kind="個別契約",
               client="株式会社サンプル物流", sales_rep=SATO, dispatch_start="2026-11-02")

    sweep_at(ctx, "2026-10-28T09:00")  # 2 business days before the due day, Fri 10-30
    sweep_at(ctx, "2026-11-02T09:00")  # late
    kintone.update_record(CONTRACTS, rid, {"遅延理由": {"value": "派遣先の押印担当者が出張中のため"}})
    sweep_at(ctx, "2026-11-02T10:00")
    sweep_at(ctx, "2026-11-02T11:00")

    reminder, asked, reported = comments(kintone, CONTRACTS, rid)
    assert "【契約締結のお願い】" in reminder.text and "2026年10月30日（金）が期限です" in reminder.text
    assert mentioned(asked) == ["sato", "tanaka"]
    assert "遅れている理由を「遅延理由」に記入してください" in asked.text
    assert mentioned(reported) == ["tanaka"]
    assert "「遅延理由」：派遣先の押印担当者が出張中のため" in reported.text


def test_a_concluded_contract_is_never_late(ctx, kintone, mappings):
    rid = seed(kintone, mappings, "contracts", status="締結済", contract_kind="個別契約", sales_rep=SATO,
               dispatch_start="2026-11-02")

    sweep_at(ctx, "2026-11-02T09:00")

    assert comments(kintone, CONTRACTS, rid) == []


# -- follow-ups ------------------------------------------------------------------------------

def test_a_done_follow_up_without_a_next_date_gets_one_reminder_and_no_escalation(ctx, kintone, mappings):
    rid = seed(kintone, mappings, "follow_ups", title="1ヶ月フォロー", category="スタッフフォロー", owner=SATO,
               supervisor=SUZUKI, due_on="2026-10-19", done_on="2026-10-19", facts="業務に慣れてきた",
               completion="完了")

    sweep_at(ctx, "2026-10-19T17:00")
    sweep_at(ctx, "2026-10-20T09:00")
    sweep_at(ctx, "2026-10-21T09:00")

    [reminder] = comments(kintone, FOLLOW_UPS, rid)
    assert mentioned(reminder) == ["sato"]
    assert "「次回フォロー日」が未入力です" in reminder.text


def test_a_follow_up_not_done_on_its_day_escalates_to_its_supervisor(ctx, kintone, mappings):
    rid = seed(kintone, mappings, "follow_ups", title="初日フォロー", category="スタッフフォロー", owner=SATO,
               supervisor=SUZUKI, due_on="2026-10-16")

    sweep_at(ctx, "2026-10-16T09:00")
    sweep_at(ctx, "2026-10-19T09:00")

    reminder, escalation = comments(kintone, FOLLOW_UPS, rid)
    assert "前回の記録を見ながらスタッフさんの話を聞き、" in reminder.text
    assert "「確認した事実」と「相談・課題」" in reminder.text
    assert mentioned(escalation) == ["sato", "suzuki"]
    assert "\n\n担当者：早めにフォローを実施し、" in escalation.text


# -- once, and at what cost ---------------------------------------------------------------

def test_a_sweep_finding_another_running_leaves_the_work_to_it(ctx, kintone, mappings):
    rid = hp_inquiry(kintone, mappings, "2026-10-09T19:30")
    ctx.clock = lambda: at("2026-10-13T09:00")
    lock = ctx.ledger.lock(deadlines.LOCK_KEY, 60)
    assert lock.acquire(blocking=False)

    assert deadlines.sweep(ctx) == "already_running"
    assert comments(kintone, INQUIRIES, rid) == []

    lock.release()
    assert deadlines.sweep(ctx) == "swept"
    assert len(comments(kintone, INQUIRIES, rid)) == 1


def test_a_record_deleted_meanwhile_does_not_stop_the_others(ctx, kintone, mappings):
    from connectors.kintone import KintoneNotFound

    first = hp_inquiry(kintone, mappings, "2026-10-09T19:30")
    second = hp_inquiry(kintone, mappings, "2026-10-09T19:40")
    kintone.fail_next("add_comment", KintoneNotFound("record gone", status=404, code="GAIA_RE01"))

    sweep_at(ctx, "2026-10-13T09:00")
    sweep_at(ctx, "2026-10-13T10:00")

    assert len(comments(kintone, INQUIRIES, first)) == 1  # posted by the second sweep
    assert len(comments(kintone, INQUIRIES, second)) == 1


def test_kintone_down_stops_the_sweep_for_a_retry_without_repeating_what_was_sent(ctx, kintone, mappings):
    from connectors.kintone import KintoneUnavailable

    first = hp_inquiry(kintone, mappings, "2026-10-09T19:30")
    second = hp_inquiry(kintone, mappings, "2026-10-09T19:40")
    ctx.clock = lambda: at("2026-10-13T09:00")
    kintone.fail_next("add_comment", KintoneUnavailable("maintenance", status=503))

    with pytest.raises(KintoneUnavailable):
        deadlines.sweep(ctx)
    assert deadlines.sweep(ctx) == "swept"

    assert len(comments(kintone, INQUIRIES, first)) == 1
    assert len(comments(kintone, INQUIRIES, second)) == 1


@pytest.mark.parametrize("digest_from", [None, 5])
def test_sweeping_1000_overdue_inquiries_costs_three_queries_and_a_comment_each_or_one_digest(
        digest_from, ctx, kintone, mappings):
    with_digest(mappings, "inquiry_first_contact", digest_from)  # 5: the default mapping's
    ids = [hp_inquiry(kintone, mappings, "2026-10-09T19:30") for _ in range(1000)]

    sweep_at(ctx, "2026-10-14T09:00")
    first = kintone.calls.copy()
    kintone.calls.clear()
    sweep_at(ctx, "2026-10-14T10:00")

    # 500 + 500 + an empty page to see the end, + 1 for the inquiry_assignment rule (nothing routed)
    assert first[("get_records", INQUIRIES)] == 4
    assert kintone.calls[("get_records", INQUIRIES)] == 4
    assert kintone.calls[("add_comment", INQUIRIES)] == 0
    if digest_from is None:  # one escalation per inquiry, to sato and tanaka
        assert first[("add_comment", INQUIRIES)] == 1000
        assert all(len(comments(kintone, INQUIRIES, rid)) == 1 for rid in ids)
    else:  # one for all of sato's, on the first
        assert first[("add_comment", INQUIRIES)] == 1
        [digest] = comments(kintone, INQUIRIES, ids[0])
        assert mentioned(digest) == ["sato", "tanaka"]
        assert digest.text.startswith("【初回連絡の期限超過（1000件）】\nHPからのお問い合わせ1000件の初回連絡が、"
                                      "期限（2026年10月13日（火））を過ぎています。")
        assert ("レコード一覧の絞り込みで「受付経路」が「HP」、「初回連絡日時」が空欄、「担当営業」が佐藤 一郎さん、"
                "「受付日時」が2026年10月9日（金）19:30のものを表示すると、対象の1000件を確認できます") in digest.text
        assert "\n上長：状況をご確認のうえ、必要に応じて担当者にご指示ください。" in digest.text
        assert all(comments(kintone, INQUIRIES, rid) == [] for rid in ids[1:])
    print(f"\n1,000 overdue inquiries, digest_from {digest_from}: first sweep {sum(first.values())} kintone calls "
          f"({dict(first)}), later sweeps {sum(kintone.calls.values())}")


def test_a_rule_kintone_refuses_fails_the_sweep_by_name_after_the_other_rules_ran(ctx, kintone, mappings):
    from connectors.kintone import KintoneValidationError

    inquiry = hp_inquiry(kintone, mappings, "2026-10-09T19:30")
    visit = seed(kintone, mappings, "visits", sales_rep=SATO, visited_at=utc("2026-10-09T15:00"))
    kintone.fail_next("get_records", KintoneValidationError("query: unknown field", status=400, code="GAIA_IQ11"))

    with pytest.raises(deadlines.SweepFailed, match="inquiry_first_contact"):
        sweep_at(ctx, "2026-10-13T10:00")

    assert comments(kintone, INQUIRIES, inquiry) == []
    assert len(comments(kintone, VISITS, visit)) == 1
