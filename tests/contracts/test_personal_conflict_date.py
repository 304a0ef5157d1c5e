"""個人単位の抵触日 (労働者派遣法第40条の3) stored and reminded (issue 11): when a contract is sent, the
earliest 抵触日 of its workers in their 組織単位 (from G-Staff's assignment history) is written on the
record, and the deadline rules remind it like the site's: three months before, the 雇用安定措置 plan
(法第30条); one month before, the notices to the client and the worker, each with its date.

The sample contract sends S-2001 (in 物流課 since 2025-12-01: 抵触日 2028-12-01) and S-2002 (new:
2029-12-01). Frozen clock, fake kintone and G-Staff, real Redis."""

from __future__ import annotations

from datetime import date

from connectors.gstaff import Assignment, ClientHistory, ClientSummary, EmploymentType, StaffMember, WorkSite
from flows import contract_issuance, deadlines
from tests.contracts.conftest import CONTRACTS
from tests.records import at


def issued(cctx, contract, **changes) -> str:
    rid = contract(**changes)
    assert contract_issuance.run(cctx, "contracts", rid) == "sent_for_signature"
    return rid


def stored(kintone, rid: str) -> str:
    return kintone.record_values(CONTRACTS, rid)["個人単位抵触日"]


def sweep_at(cctx, text: str) -> None:
    cctx.clock = lambda: at(text)
    deadlines.sweep(cctx)


def personal(kintone, rid: str) -> list:
    return [c for c in kintone.apps[CONTRACTS].comments[rid] if "個人単位の抵触日" in c.text]


# -- stored when the contract is sent --------------------------------------------------------------


def test_a_sent_contract_stores_the_earliest_personal_conflict_date_of_its_workers(cctx, kintone, contract):
    rid = issued(cctx, contract)

    assert stored(kintone, rid) == "2028-12-01"  # S-2001's three years in 物流課; S-2002's is 2029-12-01


def test_a_renewal_ending_the_day_before_the_workers_date_stores_that_date(cctx, kintone, gstaff, contract):
    gstaff.add_client(ClientSummary("G-2001", "株式会社大阪製作所"),
                      ClientHistory("G-2001", work_sites=[WorkSite("大阪工場", date(2031, 1, 1))]))
    gstaff.add_assignment("G-2001", Assignment("S-2002", "大阪工場", "製造一課", date(2024, 12, 1), date(2026, 11, 30)))
    rid = issued(cctx, contract, Gスタッフ顧客ID="G-2001", 派遣先事業所="大阪工場", 組織単位="製造一課",
                 派遣スタッフID="S-2002", 抵触日="2031-01-01", 抵触日通知の事業所="大阪工場",
                 派遣終了日="2027-11-30")

    assert stored(kintone, rid) == "2027-12-01"


def test_another_organization_unit_counts_from_its_own_first_day(cctx, kintone, contract):
    rid = issued(cctx, contract, 組織単位="出荷課")  # S-2001's earlier 物流課 dispatch does not count

    assert stored(kintone, rid) == "2029-12-01"


def test_a_proven_exemption_stores_no_personal_conflict_date(cctx, kintone, gstaff, contract):
    gstaff.add_staff(StaffMember("S-3002", EmploymentType.INDEFINITE, date(1990, 1, 1)))
    rid = issued(cctx, contract, 派遣スタッフID="S-3002", 期間制限の例外="無期雇用", 無期60歳以上限定="限定する")

    assert stored(kintone, rid) == ""


# -- reminded like the site's 抵触日 ---------------------------------------------------------------


def test_three_months_before_the_rep_is_asked_for_the_employment_stability_plan(cctx, kintone, contract):
    rid = issued(cctx, contract)

    sweep_at(cctx, "2028-08-31T10:00")  # Thu: three months before 11-01 (the due day) is 09-01
    assert personal(kintone, rid) == []
    sweep_at(cctx, "2028-09-01T10:00")
    [reminder] = personal(kintone, rid)
    assert "派遣スタッフの個人単位の抵触日「派遣 太郎」の個人単位の抵触日への対応方針（雇用安定措置）の確認は、" \
           "2028年11月1日（水）が期限です" in reminder.text
    assert "（個人単位の抵触日：2028年12月1日（金））" in reminder.text
    assert "派遣先の意見聴取では延長できません" in reminder.text
    assert "【未入力の項目】\n・個人単位の抵触日への対応方針\n・個人単位の対応方針を確認した日" in reminder.text
    assert [m.code for m in reminder.mentions] == ["sato"]

    sweep_at(cctx, "2028-09-04T10:00")
    assert len(personal(kintone, rid)) == 1  # said once


def test_a_plan_not_recorded_by_its_due_day_reaches_the_supervisor(cctx, kintone, contract):
    rid = issued(cctx, contract)

    sweep_at(cctx, "2028-11-02T10:00")

    [escalation] = [c for c in personal(kintone, rid) if "対応方針" in c.text]
    assert [m.code for m in escalation.mentions] == ["sato", "tanaka"]


def test_one_month_before_the_client_and_the_worker_are_told_each_with_its_date(cctx, kintone, contract):
    rid = issued(cctx, contract)
    kintone.update_record(CONTRACTS, rid, {"個人単位抵触日対応方針": {"value": "派遣先へ直接雇用を依頼"},
                                           "個人単位抵触日対応確認日": {"value": "2028-09-04"}})

    sweep_at(cctx, "2028-10-27T10:00")  # Fri: the notice starts a month before Thu 11-30
    assert personal(kintone, rid) == []
    sweep_at(cctx, "2028-10-30T10:00")
    [reminder] = personal(kintone, rid)
    assert "派遣先とスタッフさんへの個人単位の抵触日の通知は、2028年11月30日（木）が期限です" in reminder.text
    assert "・派遣先へ個人単位の抵触日を通知した日\n・派遣スタッフへ個人単位の抵触日を通知した日" in reminder.text

    kintone.update_record(CONTRACTS, rid, {"個人単位抵触日通知日派遣先": {"value": "2028-10-31"}})
    sweep_at(cctx, "2028-12-01T10:00")  # only the client's notice is recorded: overdue for the worker's
    overdue = personal(kintone, rid)[-1]
    assert "・派遣スタッフへ個人単位の抵触日を通知した日" in overdue.text
    assert "派遣先へ個人単位の抵触日を通知した日\n" not in overdue.text
    assert [m.code for m in overdue.mentions] == ["sato", "tanaka"]

    kintone.update_record(CONTRACTS, rid, {"個人単位抵触日通知日スタッフ": {"value": "2028-12-01"}})
    sweep_at(cctx, "2028-12-04T10:00")
    assert personal(kintone, rid)[-1] is overdue  # both dated: nothing more


def test_only_the_workers_current_contract_in_the_unit_is_reminded(cctx, kintone, contract):
    earlier = issued(cctx, contract, 派遣終了日="2027-02-28")
    current = issued(cctx, contract)
    kintone.update_record(CONTRACTS, earlier, {"個人単位抵触日": {"value": "2028-12-01"}})

    sweep_at(cctx, "2028-09-01T10:00")

    assert personal(kintone, earlier) == [] and len(personal(kintone, current)) == 1
