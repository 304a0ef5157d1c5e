"""Deadline digests (issue 17): a sweep that finds many records of one rule due at one level for the
same people tells them in one comment on the first, with the count, the first ten and the list
filter, and remembers each record as told. An import of HP inquiries nobody assigned, routed per
page as a reconcile sweep routes it, then the deadline sweeps of the day; the comments and the
kintone calls out. The Inquiries app's default rules: ``inquiry_assignment`` (the 部署責任者 told 2
business hours after arrival, escalated after 4) with ``digest_from = 5``.

Tuesday 2026-12-01: imported at 09:40, the reminder falls due at 11:40 and the limit at 13:40.
"""

from __future__ import annotations

import pytest

from connectors.gstaff.fake import FakeGStaff
from connectors.kintone import KintoneConnectionError, KintoneNotFound, KintoneUnavailable
from flows import bulk, deadlines, inquiry_routing
from tests.records import at, utc, with_digest

INQUIRIES = "2"
ASSIGNMENT = "担当営業の割り当て"
SATO = {"code": "sato", "name": "佐藤 一郎"}


@pytest.fixture
def office(ctx):
    """The test context as the workers have it: G-Staff for the reps' workload, Tuesday morning."""
    ctx.gstaff = FakeGStaff.with_samples()
    ctx.clock = lambda: at("2026-12-01T10:00")
    return ctx


def imported(ctx, kintone, n: int, received: str = "2026-12-01T09:40", start: int = 0, **values) -> list[str]:
    """``n`` HP inquiries imported without 担当営業 (no webhook), routed per page of 500 as the reconcile
    sweep's page jobs route them: 担当部署 東京営業部, 部署責任者 tanaka (one notice per page)."""
    ids = [kintone.seed(INQUIRIES, {"受付経路": "HP", "受付日時": utc(received), "会社名": f"株式会社あおば物流{start + i}号",
                                    "業態": "物流", "問い合わせ内容": "倉庫の軽作業スタッフをお願いしたい", **values})
           for i in range(n)]
    for page in bulk.chunks(ids, 500):
        inquiry_routing.run_page(ctx, "inquiries", page)
    return ids


def sweep_at(ctx, kintone, moment: str) -> dict:
    """One deadline sweep at ``moment``; the Inquiries app's kintone calls it made."""
    ctx.clock = lambda: at(moment)
    kintone.calls.clear()
    assert deadlines.sweep(ctx) == "swept"
    return {method: n for (method, app), n in kintone.calls.items() if app == INQUIRIES}


def assignment_comments(kintone, ids) -> dict[str, list]:
    """{record id: its comments of the assignment rule}, records without any left out."""
    out = {rid: [c for c in kintone.apps[INQUIRIES].comments[rid] if ASSIGNMENT in c.text] for rid in ids}
    return {rid: cs for rid, cs in out.items() if cs}


def test_600_unassigned_imported_inquiries_give_the_manager_one_reminder_and_one_escalation(office, kintone, mappings):
    ids = imported(office, kintone, 600)

    assert sweep_at(office, kintone, "2026-12-01T11:30").get("add_comment", 0) == 0  # not yet
    calls = sweep_at(office, kintone, "2026-12-01T11:45")

    # One query per 500 of the rule's records and one comment, where one comment per inquiry cost 600;
    # plus the first-contact rule's query (due tomorrow: nothing found).
    assert calls == {"get_records": 3, "add_comment": 1}
    [[reminder]] = assignment_comments(kintone, ids).values()
    assert assignment_comments(kintone, ids).keys() == {ids[0]}
    assert [m.code for m in reminder.mentions] == ["tanaka"]
    text = reminder.text
    assert text.startswith("【担当営業の割り当てのお願い（600件）】\n"
                           "新しいお問い合わせ600件の担当営業の割り当ては、2026年12月1日（火）13:40が期限です。\n\n"
                           "担当部門のマネージャーが担当営業を割り振るルールです。")
    assert ("レコード一覧の絞り込みで「担当部署」が入力済み、「割当日時」が空欄、「部署責任者」がtanakaさん、"
            "「受付日時」が2026年12月1日（火）09:40のものを表示すると、対象の600件を確認できます"
            "（このコメントは、そのうち最初の1件に書いています）。") in text
    assert "【対象の新しいお問い合わせ】（レコード番号順、最初の10件）\n" in text
    assert f"】（レコード番号順、最初の10件）\n・レコード番号{ids[0]}：株式会社あおば物流0号\n" in text  # one due time: said once
    assert f"・レコード番号{ids[9]}：株式会社あおば物流9号\n" in text and f"レコード番号{ids[10]}：" not in text
    assert text.endswith("ほか590件")

    assert sweep_at(office, kintone, "2026-12-01T12:15").get("add_comment", 0) == 0  # each one remembered
    assert sweep_at(office, kintone, "2026-12-01T13:45") == {"get_records": 3, "add_comment": 1}
    [reminder, escalation] = assignment_comments(kintone, ids)[ids[0]]
    assert [m.code for m in escalation.mentions] == ["tanaka"]
    assert escalation.text.startswith("【担当営業の割り当ての期限超過（600件）】\n新しいお問い合わせ600件の担当営業の割り当てが、"
                                      "期限（2026年12月1日（火）13:40）を過ぎています。\n\n担当営業が決まっていません。")
    for moment in ("2026-12-01T14:15", "2026-12-01T17:45"):
        assert sweep_at(office, kintone, moment).get("add_comment", 0) == 0
    assert assignment_comments(kintone, ids).keys() == {ids[0]}

    # Each inquiry was remembered as its own comment remembers it: without the digest, nothing is told again.
    with_digest(mappings, "inquiry_assignment", None)
    assert sweep_at(office, kintone, "2026-12-01T15:15").get("add_comment", 0) == 0


def test_an_inquiry_falling_due_later_is_told_on_its_own_and_a_later_import_in_a_digest_of_its_own(
        office, kintone, mappings):
    first_import = imported(office, kintone, 600)
    office.clock = lambda: at("2026-12-01T10:30")
    phoned = kintone.seed(INQUIRIES, {"受付経路": "電話", "受付日時": utc("2026-12-01T10:30"), "会社名": "株式会社みどり倉庫",
                                      "業態": "物流"})
    inquiry_routing.run(office, "inquiries", phoned)  # its webhook's job
    second_import = imported(office, kintone, 7, received="2026-12-01T11:00", start=600)

    sweep_at(office, kintone, "2026-12-01T11:45")  # the first import's digest
    assert sweep_at(office, kintone, "2026-12-01T12:35") == {"get_records": 3, "add_comment": 1}
    assert sweep_at(office, kintone, "2026-12-01T13:05") == {"get_records": 3, "add_comment": 1}

    told = assignment_comments(kintone, [*first_import, phoned, *second_import])
    assert told.keys() == {first_import[0], phoned, second_import[0]}
    [own] = told[phoned]
    assert own.text.startswith("【担当営業の割り当てのお願い】\n新しいお問い合わせ「株式会社みどり倉庫」の担当営業の割り当ては、"
                               "2026年12月1日（火）14:30が期限です。")
    [digest] = told[second_import[0]]
    assert digest.text.startswith("【担当営業の割り当てのお願い（7件）】")
    assert "ほか" not in digest.text and f"・レコード番号{second_import[6]}：株式会社あおば物流606号" in digest.text
    assert len(told[first_import[0]]) == 1  # the first import is not told again


@pytest.mark.parametrize("n, comments", [(4, 4), (5, 1)])
def test_below_the_threshold_each_inquiry_is_told_on_its_own_as_before(n, comments, office, kintone, mappings):
    ids = imported(office, kintone, n)

    assert sweep_at(office, kintone, "2026-12-01T11:45")["add_comment"] == comments

    told = assignment_comments(kintone, ids)
    if n < 5:
        assert told.keys() == set(ids)
        for i, rid in enumerate(ids):
            [own] = told[rid]
            assert own.text.startswith(f"【担当営業の割り当てのお願い】\n新しいお問い合わせ「株式会社あおば物流{i}号」の")
    else:
        assert told.keys() == {ids[0]} and "（5件）" in told[ids[0]][0].text


def test_a_digest_is_per_person_so_a_smaller_department_is_told_per_inquiry(office, kintone, mappings):
    tokyo = imported(office, kintone, 6)
    calls = imported(office, kintone, 3, 業態="コールセンター", start=100)  # オフィス営業部, manager yamada

    sweep_at(office, kintone, "2026-12-01T11:45")

    told = assignment_comments(kintone, tokyo + calls)
    assert told.keys() == {tokyo[0], *calls}
    assert [m.code for m in told[tokyo[0]][0].mentions] == ["tanaka"] and "（6件）" in told[tokyo[0]][0].text
    assert all([m.code for m in told[rid][0].mentions] == ["yamada"] for rid in calls)


def _dies_at(ledger, when):
    """The worker is killed at the first ledger mark ``when(key, nth)`` picks (nth: marks of that kind)."""
    real, seen = ledger.mark, {"n": 0}

    def mark(key, *args, **kwargs):
        if key.startswith("deadline:inquiry_assignment:"):
            seen["n"] += 1
        if when(key, seen["n"]):
            ledger.mark = real
            raise SystemExit("worker killed")
        return real(key, *args, **kwargs)

    ledger.mark = mark


CRASHES = {
    # kintone took the digest; the ledger never heard it was done
    "before_done": lambda key, n: key.startswith("told:") and "deadline_digest" in key and not key.endswith(":sending"),
    "before_the_marks": lambda key, n: n == 1,
    "half_way_through_the_marks": lambda key, n: n == 300,
}


@pytest.mark.parametrize("crash", sorted(CRASHES))
def test_a_crash_after_the_digest_was_posted_posts_nothing_twice_and_loses_no_record(crash, office, kintone, mappings):
    ids = imported(office, kintone, 600)
    later = imported(office, kintone, 6, received="2026-12-01T10:10", start=600)
    _dies_at(office.ledger, CRASHES[crash])
    office.clock = lambda: at("2026-12-01T11:45")
    with pytest.raises(SystemExit):
        deadlines.sweep(office)
    assert len(assignment_comments(kintone, ids)[ids[0]]) == 1  # posted before the crash
    # Meanwhile one inquiry is assigned and six more fall due: the group is not the one posted.
    kintone.update_record(INQUIRIES, ids[3], {"担当営業": {"value": [SATO]}, "割当日時": {"value": utc("2026-12-01T12:00")}})

    calls = sweep_at(office, kintone, "2026-12-01T12:15")

    told = assignment_comments(kintone, ids + later)
    assert told.keys() == {ids[0], later[0]}
    assert len(told[ids[0]]) == 1 and "（600件）" in told[ids[0]][0].text
    assert "（6件）" in told[later[0]][0].text
    # the recovery read the first record's comments once only when "done" was never written
    assert calls.get("get_comments", 0) == (1 if crash == "before_done" else 0)
    assert sweep_at(office, kintone, "2026-12-01T12:45").get("add_comment", 0) == 0
    sweep_at(office, kintone, "2026-12-01T14:15")  # past both limits: the 599 unassigned and the six, once
    escalations = {rid: cs for rid, cs in assignment_comments(kintone, ids + later).items()
                   if any("期限超過" in c.text for c in cs)}
    assert escalations.keys() == {ids[0]} and "（605件）" in escalations[ids[0]][-1].text
    text = escalations[ids[0]][-1].text
    assert "期限（2026年12月1日（火）13:40〜2026年12月1日（火）14:10）を過ぎています" in text
    assert f"・レコード番号{ids[0]}：株式会社あおば物流0号（期限：2026年12月1日（火）13:40）\n" in text  # each its own


def test_a_digest_kintone_answered_with_a_lost_reply_is_not_posted_again(office, kintone, mappings):
    ids = imported(office, kintone, 20)
    kintone.lose_answer_of("add_comment")  # it landed; the answer timed out
    office.clock = lambda: at("2026-12-01T11:45")
    with pytest.raises(KintoneConnectionError):  # the timeout: the sweep is retried
        deadlines.sweep(office)

    assert deadlines.sweep(office) == "swept"

    assert [len(cs) for cs in assignment_comments(kintone, ids).values()] == [1]
    assert sweep_at(office, kintone, "2026-12-01T12:15").get("add_comment", 0) == 0


def test_kintone_down_at_the_digest_retries_it_once(office, kintone, mappings):
    ids = imported(office, kintone, 20)
    kintone.fail_next("add_comment", KintoneUnavailable("maintenance", status=503))
    office.clock = lambda: at("2026-12-01T11:45")
    with pytest.raises(KintoneUnavailable):
        deadlines.sweep(office)
    assert assignment_comments(kintone, ids) == {}

    assert deadlines.sweep(office) == "swept"
    assert deadlines.sweep(office) == "swept"

    assert [len(cs) for cs in assignment_comments(kintone, ids).values()] == [1]


def test_a_digest_whose_record_kintone_refuses_is_told_by_the_next_sweep(office, kintone, mappings):
    ids = imported(office, kintone, 20)
    kintone.fail_next("add_comment", KintoneNotFound("record gone", status=404, code="GAIA_RE01"))

    sweep_at(office, kintone, "2026-12-01T11:45")
    assert assignment_comments(kintone, ids) == {}  # nobody marked as told
    sweep_at(office, kintone, "2026-12-01T12:15")

    assert [len(cs) for cs in assignment_comments(kintone, ids).values()] == [1]


def test_the_backlog_benchmark_counts_the_imports_deadline_comments_it_reports():
    """benchmarks/backlog.py's import_deadline_calls: three business days of sweeps, nobody assigning."""
    from benchmarks import backlog

    each, digested = backlog.import_deadline_calls(20, digest=False), backlog.import_deadline_calls(20, digest=True)

    # per inquiry: the assignment's reminder and escalation, the first contact's reminder and escalation
    assert each["add_comment"] == 4 * 20 and digested["add_comment"] == 4
    assert each["get_records"] == digested["get_records"]  # the queries do not change
