"""How long a 基本契約 is kept (issue 11): until trading ends plus the retention periods, never shorter
than the latest individual contract under it. A concluded individual contract (kintone's webhook
for 締結) extends its 基本契約 in G-Staff's archive and then in kintone; 取引終了日 fixes the final date
and the rep is told. Dated edges: the fiscal year's last day (tax retention runs 7 years from the
filing deadline two months after the fiscal year ending 03-31). Fake kintone and G-Staff, real Redis."""

from __future__ import annotations

from datetime import date

import pytest

from connectors.gstaff import ArchivedContract, GStaffConfigError, GStaffTransientError
from flows import master_retention
from kgbridge.samples import COMPLETE_CONTRACT
from tests.contracts.conftest import CONTRACTS, post_kintone

REP = [{"code": "sato", "name": "佐藤 一郎"}]


def master(kintone, gstaff, concluded_on="2026-11-24", until="2034-05-31", archived=True, **values) -> str:
    """A concluded 基本契約 of client 1, archived in G-Staff with its 保管期限."""
    rid = kintone.seed(CONTRACTS, {"契約種別": "基本契約", "顧客": "株式会社サンプル物流", "顧客レコード番号": "1",
                                   "Gスタッフ顧客ID": "G-1001", "担当営業": REP, "締結日": concluded_on,
                                   "保管期限": until, **values}, status="締結済")
    if archived:
        archive_id = gstaff.archive_contract(ArchivedContract(f"kintone:contracts:{rid}", "G-1001", "基本契約書.pdf",
                                                              b"%PDF", date.fromisoformat(until), "基本契約"))
        kintone.update_record(CONTRACTS, rid, {"Gスタッフ保管ID": {"value": archive_id}})
    return rid


def individual(kintone, concluded_on: str, until: str) -> str:
    """A concluded 個別契約 of client 1 with the 締結日 and 保管期限 signature_status wrote."""
    return kintone.seed(CONTRACTS, dict(COMPLETE_CONTRACT, 締結日=concluded_on, 保管期限=until), status="締結済")


def kept(kintone, gstaff, rid: str) -> tuple[str, date]:
    """(保管期限 in kintone, 保管期限 in G-Staff's archive)."""
    _archive_id, archived = gstaff.archives[f"kintone:contracts:{rid}"]
    return kintone.record_values(CONTRACTS, rid)["保管期限"], archived.retention_until


# -- an individual contract extends its 基本契約 ------------------------------------------------------


def test_a_concluded_individual_contract_that_outlasts_its_master_contract_extends_it(client, kintone, gstaff,
                                                                                     drain):
    basic = master(kintone, gstaff)
    rid = individual(kintone, "2027-04-01", "2035-05-31")  # the next fiscal year: kept a year longer

    post_kintone(client, kintone, rid, "UPDATE_STATUS")  # kintone's webhook for 締結
    drain()

    assert kept(kintone, gstaff, basic) == ("2035-05-31", date(2035, 5, 31))
    post_kintone(client, kintone, rid, "UPDATE_RECORD")  # edited later (e.g. a follow-up date)
    drain()
    assert gstaff.calls["extend_retention"] == 1


@pytest.mark.parametrize(("concluded_on", "until", "master_until", "outcome"), [
    ("2027-03-31", "2034-05-31", "2034-05-31", "covered"),          # the same fiscal year: the same date
    ("2027-04-01", "2035-05-31", "2035-05-31", "master_extended"),  # the fiscal year after
])
def test_the_master_contract_is_extended_only_when_the_individual_is_kept_longer(cctx, kintone, gstaff,
                                                                                  concluded_on, until,
                                                                                  master_until, outcome):
    basic = master(kintone, gstaff)
    rid = individual(kintone, concluded_on, until)

    assert master_retention.run(cctx, "contracts", rid) == outcome

    assert kept(kintone, gstaff, basic) == (master_until, date.fromisoformat(master_until))
    assert gstaff.calls["extend_retention"] == (outcome == "master_extended")


def test_the_master_contract_in_force_is_the_latest_concluded_on_or_before_the_individual(cctx, kintone, gstaff):
    old = master(kintone, gstaff, concluded_on="2020-04-01", until="2028-05-31")
    new = master(kintone, gstaff, concluded_on="2026-11-24", until="2034-05-31")
    before_new = individual(kintone, "2025-06-02", "2033-05-31")
    after_new = individual(kintone, "2027-04-01", "2035-05-31")

    master_retention.run(cctx, "contracts", before_new)
    master_retention.run(cctx, "contracts", after_new)

    assert kept(kintone, gstaff, old) == ("2033-05-31", date(2033, 5, 31))
    assert kept(kintone, gstaff, new) == ("2035-05-31", date(2035, 5, 31))


def test_a_master_contract_not_archived_yet_gets_the_date_in_kintone_only(cctx, kintone, gstaff):
    basic = master(kintone, gstaff, archived=False)

    assert master_retention.run(cctx, "contracts", individual(kintone, "2027-04-01", "2035-05-31")) \
        == "master_extended"

    assert kintone.record_values(CONTRACTS, basic)["保管期限"] == "2035-05-31"  # its archive takes the record's
    assert gstaff.calls["extend_retention"] == 0


def test_g_staff_first_kintone_after_so_a_failure_changes_nothing(cctx, kintone, gstaff):
    basic = master(kintone, gstaff)
    rid = individual(kintone, "2027-04-01", "2035-05-31")
    gstaff.fail_next("extend_retention", GStaffTransientError("[503] maintenance", status=503))

    with pytest.raises(GStaffTransientError):
        master_retention.run(cctx, "contracts", rid)
    assert kept(kintone, gstaff, basic) == ("2034-05-31", date(2034, 5, 31))

    assert master_retention.run(cctx, "contracts", rid) == "master_extended"  # the job's retry
    assert kept(kintone, gstaff, basic) == ("2035-05-31", date(2035, 5, 31))


def test_without_g_staff_an_archived_master_contract_is_left_as_it_is(cctx, kintone, gstaff):
    basic = master(kintone, gstaff)
    cctx.gstaff = None

    with pytest.raises(GStaffConfigError, match="nothing was changed"):
        master_retention.run(cctx, "contracts", individual(kintone, "2027-04-01", "2035-05-31"))
    assert kintone.record_values(CONTRACTS, basic)["保管期限"] == "2034-05-31"


# -- 取引終了日 fixes the final date -------------------------------------------------------------------


@pytest.mark.parametrize(("trade_ended_on", "final"), [
    ("2030-03-31", "2037-05-31"),   # the fiscal year's last day: filed by 2030-05-31, kept 7 years
    ("2030-04-01", "2038-05-31"),   # a day later is the next fiscal year
])
def test_trade_end_fixes_the_master_contracts_retention_and_tells_the_rep(client, kintone, gstaff, drain,
                                                                          trade_ended_on, final):
    basic = master(kintone, gstaff)
    individual(kintone, "2027-04-01", "2035-05-31")

    kintone.update_record(CONTRACTS, basic, {"取引終了日": {"value": trade_ended_on}})
    post_kintone(client, kintone, basic, "UPDATE_RECORD")
    drain()

    assert kept(kintone, gstaff, basic) == (final, date.fromisoformat(final))
    [told] = kintone.apps[CONTRACTS].comments[basic]
    day = date.fromisoformat(final)
    assert f"この基本契約の「保管期限」を{day.year}年{day.month}月{day.day}日" in told.text
    assert [m.code for m in told.mentions] == ["sato"]

    post_kintone(client, kintone, basic, "UPDATE_RECORD")  # our own write notifies again: nothing more
    drain()
    assert len(kintone.apps[CONTRACTS].comments[basic]) == 1 and gstaff.calls["extend_retention"] == 1


def test_trade_end_never_makes_it_shorter_than_an_individual_contract_under_it(cctx, kintone, gstaff):
    basic = master(kintone, gstaff)
    individual(kintone, "2028-04-03", "2036-05-31")  # concluded after the 基本契約, kept longest
    individual(kintone, "2027-04-01", "2035-05-31")  # a newer record kept shorter
    individual(kintone, "2019-05-01", "2040-05-31")  # before the 基本契約: another one's

    kintone.update_record(CONTRACTS, basic, {"取引終了日": {"value": "2026-12-31"}})  # alone: 2034-05-31
    assert master_retention.run(cctx, "contracts", basic) == "retention_fixed"

    assert kept(kintone, gstaff, basic) == ("2036-05-31", date(2036, 5, 31))


def test_a_later_date_already_kept_is_never_shortened(cctx, kintone, gstaff):
    basic = master(kintone, gstaff, until="2039-05-31")  # e.g. 10 years for losses carried forward

    kintone.update_record(CONTRACTS, basic, {"取引終了日": {"value": "2027-06-30"}})
    master_retention.run(cctx, "contracts", basic)

    assert kept(kintone, gstaff, basic) == ("2039-05-31", date(2039, 5, 31))
    assert gstaff.calls["extend_retention"] == 0


# -- a dormant 基本契約: the rep is asked before its 保管期限 passes (deadlines.toml) -----------------------


def sweep_at(ctx, text: str) -> str:
    from flows import deadlines
    from tests.records import at

    ctx.clock = lambda: at(text)
    return deadlines.sweep(ctx)


def retention_reminders(kintone, rid: str) -> list:
    return [c for c in kintone.apps[CONTRACTS].comments.get(rid, []) if "基本契約の保管期限" in c.text]


@pytest.mark.parametrize(("until", "reminded"), [
    ("2027-03-01", True),    # due Mon 2027-02-01 (a month before); reminded from two months before that
    ("2027-03-02", False),   # one day later: reminded from 2026-12-02
])
def test_three_months_before_a_dormant_master_contracts_retention_the_rep_is_asked(cctx, kintone, gstaff, until,
                                                                                   reminded):
    basic = master(kintone, gstaff, concluded_on="2019-06-03", until=until)

    assert sweep_at(cctx, "2026-12-01T10:00") == "swept"

    found = retention_reminders(kintone, basic)
    assert len(found) == int(reminded)
    if reminded:
        [reminder] = found
        assert [m.code for m in reminder.mentions] == ["sato"]
        assert "基本契約の保管期限「株式会社サンプル物流」の取引終了日の入力か、取引継続の確認は、2027年2月1日（月）が期限です" in reminder.text
        assert "「取引終了日」が未入力のまま、「保管期限」まで3か月になりました" in reminder.text
        assert "「取引継続を確認した日」に入力してください。その日まで取引があったものとして保管期限を延長し" in reminder.text
        sweep_at(cctx, "2026-12-02T10:00")
        assert len(retention_reminders(kintone, basic)) == 1  # said once


def test_the_reminder_waits_for_business_hours_and_skips_ended_or_individual_contracts(cctx, kintone, gstaff):
    # 保管期限 at the end of May, as the tax rule gives: due Fri 2027-04-30, reminded from Sun 2027-02-28.
    dormant = master(kintone, gstaff, concluded_on="2019-06-03", until="2027-05-31")
    ended = master(kintone, gstaff, concluded_on="2019-06-03", until="2027-05-31", 取引終了日="2020-01-31")
    single = individual(kintone, "2020-01-10", "2027-05-31")

    assert sweep_at(cctx, "2027-02-26T10:00") == "swept"          # Fri: not yet
    assert sweep_at(cctx, "2027-02-28T10:00") == "outside_working_time"   # the edge day is a Sunday
    assert sweep_at(cctx, "2027-03-01T08:30") == "outside_working_time"   # Monday, before the business morning
    assert retention_reminders(kintone, dormant) == []
    sweep_at(cctx, "2027-03-01T09:30")
    assert len(retention_reminders(kintone, dormant)) == 1
    assert retention_reminders(kintone, ended) == [] and retention_reminders(kintone, single) == []

    sweep_at(cctx, "2027-05-06T10:00")  # past the due day (Golden Week between): the 上長 is told
    escalation = retention_reminders(kintone, dormant)[-1]
    assert "期限（2027年4月30日（金））を過ぎています" in escalation.text
    assert [m.code for m in escalation.mentions] == ["sato", "tanaka"]


@pytest.mark.parametrize(("confirmed", "today", "final"), [
    ("2027-03-31", "2027-03-31", "2034-05-31"),   # the fiscal year's last day: filed by 2027-05-31, kept 7 years
    ("2027-04-01", "2027-04-01", "2035-05-31"),   # a day later is the next fiscal year
    ("2027-06-30", "2027-03-31", "2034-05-31"),   # a day not yet come counts as today
])
def test_confirming_that_trading_goes_on_extends_the_retention_and_ends_the_reminders(client, cctx, kintone, gstaff,
                                                                                   drain, confirmed, today, final):
    basic = master(kintone, gstaff, concluded_on="2019-06-03", until="2027-05-31")
    sweep_at(cctx, f"{today}T10:00")
    assert len(retention_reminders(kintone, basic)) == 1

    kintone.update_record(CONTRACTS, basic, {"取引継続確認日": {"value": confirmed}})
    post_kintone(client, kintone, basic, "UPDATE_RECORD")
    drain()

    assert kept(kintone, gstaff, basic) == (final, date.fromisoformat(final))
    [told] = [c for c in kintone.apps[CONTRACTS].comments[basic] if "取引継続を確認した日" in c.text
              and "としました" in c.text]
    day = date.fromisoformat(final)
    assert f"この基本契約の「保管期限」を{day.year}年{day.month}月{day.day}日" in told.text
    assert [m.code for m in told.mentions] == ["sato"]

    post_kintone(client, kintone, basic, "UPDATE_RECORD")  # our own write notifies again: nothing more
    drain()
    assert gstaff.calls["extend_retention"] == 1
    sweep_at(cctx, f"{today}T15:00")
    sweep_at(cctx, "2027-05-06T10:00")  # the old due day has passed: nothing, the date moved
    assert len(retention_reminders(kintone, basic)) == 1
