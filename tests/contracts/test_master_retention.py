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
