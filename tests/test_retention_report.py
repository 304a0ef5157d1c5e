"""延長率 and 終了率 (issue 13): a seeded year of contracts, the month's figures per company, rep, team and
client worked out by hand below, written to the KPI app once (upsert by 集計キー), printed by
``kgbridge report retention`` as a table, JSON and a PNG chart."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from rq.job import Job

from flows import retention
from flows.business_calendar import TOKYO
from kgbridge import bootstrap, periodic
from kgbridge.jobs import make_queue
from tests.records import seed

CONTRACTS, KPI = "5", "8"
SATO = [{"code": "sato", "name": "佐藤 一郎"}]  # 東京営業1課 (kpi.toml [retention.teams])
SUZUKI = [{"code": "suzuki", "name": "鈴木 課長"}]  # 東京営業2課
YAMADA = [{"code": "yamada", "name": "山田 太郎"}]  # no team listed
A, B, C = "株式会社エー物流", "株式会社ビー製作所", "株式会社シー食品"


def contract(kintone, mappings, rep, client, end, outcome=None, reason=None, early=None, status="締結済",
             kind="個別契約") -> str:
    values = {"contract_kind": kind, "sales_rep": rep, "client": client, "dispatch_start": "2026-01-01",
              "dispatch_end": end}
    if outcome:
        values["renewal_outcome"] = outcome
    if reason:
        values["end_reason"] = reason
    if early:
        values["ended_early_on"] = early
    return seed(kintone, mappings, "contracts", status=status, **values)


@pytest.fixture
def year(kintone, mappings) -> dict[str, str]:
    """A year of contracts: three a month (15th) outside November, and November's by hand."""
    pattern = [(SATO, A, "延長", None), (SUZUKI, B, "終了", "その他"), (YAMADA, C, "延長", None)]
    for month in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12):
        for rep, client, outcome, reason in pattern:
            contract(kintone, mappings, rep, client, f"2026-{month:02d}-15", outcome, reason)
    ids = {
        "1": contract(kintone, mappings, SATO, A, "2026-11-30", "延長"),
        "2": contract(kintone, mappings, SATO, A, "2026-11-15", "延長"),
        "3": contract(kintone, mappings, SATO, B, "2026-11-30", "終了", "派遣先都合（業務量減少）"),
        "4": contract(kintone, mappings, SATO, B, "2026-11-30"),  # undecided
        "5": contract(kintone, mappings, SUZUKI, A, "2026-11-30", "延長"),
        "6": contract(kintone, mappings, SUZUKI, C, "2026-11-01", "延長"),  # the month's first day
        "7": contract(kintone, mappings, SUZUKI, C, "2026-12-31", reason="スタッフ都合（転職・家庭の事情）",
                      early="2026-11-20"),  # ended early in November: counts in November
        "8": contract(kintone, mappings, YAMADA, B, "2026-11-30", "終了"),  # no reason chosen
    }
    # Not November's: cancelled, a 基本契約, not concluded, ended early in October, Oct 31, Dec 1.
    contract(kintone, mappings, SATO, A, "2026-11-30", "延長", status="取消")
    contract(kintone, mappings, SATO, A, "2026-11-30", "延長", kind="基本契約")
    contract(kintone, mappings, SATO, A, "2026-11-30", status="署名依頼中")
    contract(kintone, mappings, SUZUKI, C, "2026-11-30", reason="その他", early="2026-10-15")
    contract(kintone, mappings, SATO, A, "2026-10-31", "延長")
    contract(kintone, mappings, SATO, A, "2026-12-01", "延長")
    return ids


def figures(month_figures) -> dict[tuple[str, str], tuple]:
    return {(f.scope, f.name): (f.due, f.renewed, f.ended, f.undecided, f.renewal_rate, f.end_rate)
            for f in month_figures}


def test_november_per_company_rep_team_and_client(kintone, mappings, year):
    got = retention.measure(kintone, mappings, "2026-11")

    # Due: contracts 1–8. Renewed: 1, 2, 5, 6. Ended: 3, 7 (early), 8. Undecided: 4.
    assert figures(got) == {
        ("全社", "全社"): (8, 4, 3, 1, 50.0, 37.5),
        ("担当営業", "佐藤 一郎"): (4, 2, 1, 1, 50.0, 25.0),  # 1, 2, 3, 4
        ("担当営業", "鈴木 課長"): (3, 2, 1, 0, 66.7, 33.3),  # 5, 6, 7
        ("担当営業", "山田 太郎"): (1, 0, 1, 0, 0.0, 100.0),  # 8
        ("チーム", "東京営業1課"): (4, 2, 1, 1, 50.0, 25.0),
        ("チーム", "東京営業2課"): (3, 2, 1, 0, 66.7, 33.3),
        ("チーム", "（チーム未設定）"): (1, 0, 1, 0, 0.0, 100.0),
        ("派遣先", A): (3, 3, 0, 0, 100.0, 0.0),  # 1, 2, 5
        ("派遣先", B): (3, 0, 2, 1, 0.0, 66.7),  # 3, 4, 8
        ("派遣先", C): (2, 1, 1, 0, 50.0, 50.0),  # 6, 7
    }
    company = got[0]
    assert company.reasons == {"派遣先都合（業務量減少）": 1, "スタッフ都合（転職・家庭の事情）": 1, "（終了理由未選択）": 1}


def test_october_counts_its_early_end_and_its_last_day(kintone, mappings, year):
    # The pattern's three (延長, 終了, 延長), the contract ended early on 10-15, the one ending 10-31.
    company = retention.measure(kintone, mappings, "2026-10")[0]

    assert (company.due, company.renewed, company.ended, company.renewal_rate, company.end_rate) == (5, 3, 2, 60.0, 40.0)
    assert company.reasons == {"その他": 2}


def test_the_kpi_app_gets_one_record_per_scope_and_a_rerun_writes_nothing(kintone, mappings, year):
    written = retention.write_kpi(kintone, mappings, "2026-11", retention.measure(kintone, mappings, "2026-11"))
    assert written == {"added": 10, "updated": 0, "unchanged": 0}
    records = {r["集計キー"]["value"]: r for r in kintone.apps[KPI].records.values()}
    sato = records["2026-11:担当営業:sato"]
    assert (sato["集計対象"]["value"], sato["更新対象数"]["value"], sato["延長数"]["value"], sato["終了数"]["value"],
            sato["延長率"]["value"], sato["終了率"]["value"]) == ("佐藤 一郎", "4", "2", "1", "50.0", "25.0")
    assert records["2026-11:全社:全社"]["終了理由内訳"]["value"].splitlines() == [
        "スタッフ都合（転職・家庭の事情）：1", "派遣先都合（業務量減少）：1", "（終了理由未選択）：1"]

    kintone.calls.clear()
    again = retention.write_kpi(kintone, mappings, "2026-11", retention.measure(kintone, mappings, "2026-11"))
    assert again == {"added": 0, "updated": 0, "unchanged": 10}
    assert set(kintone.calls) == {("get_records", CONTRACTS), ("get_records", KPI)}  # reads only

    # Contract 4 is decided: 延長. Only the scopes it belongs to change.
    kintone.update_record(CONTRACTS, year["4"], {"更新結果": {"value": "延長"}})
    changed = retention.write_kpi(kintone, mappings, "2026-11", retention.measure(kintone, mappings, "2026-11"))
    assert changed == {"added": 0, "updated": 4, "unchanged": 6}  # 全社, 佐藤, 東京営業1課, B社
    records = {r["集計キー"]["value"]: r for r in kintone.apps[KPI].records.values()}
    assert records["2026-11:全社:全社"]["延長率"]["value"] == "62.5"  # 5 of 8
    assert len(records) == 10


def test_the_report_command_prints_writes_and_draws(cli, kintone, year, tmp_path):
    chart = tmp_path / "retention.png"

    result = cli("report", "retention", "--month", "2026-11", "--chart", str(chart))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:4] == ["集計単位", "集計対象", "更新対象", "延長"]
    assert lines[2].split()[:8] == ["全社", "全社", "8", "4", "3", "1", "50.0%", "37.5%"]
    assert "KPI app: 10 added, 0 updated, 0 unchanged" in result.output
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000

    again = json.loads(cli("report", "retention", "--month", "2026-11", "--json", "--no-chart").output)
    assert again["kpi_app"] == {"added": 0, "updated": 0, "unchanged": 10} and again["chart"] is None
    company = again["figures"][0]
    assert (company["scope"], company["due"], company["renewal_rate"], company["end_rate"]) == ("全社", 8, 50.0, 37.5)


def test_a_bad_month_is_refused_and_nothing_is_written(cli, kintone, year):
    result = cli("report", "retention", "--month", "2026-13", "--no-chart")

    assert result.exit_code == 2 and "YYYY-MM" in result.output
    assert kintone.apps[KPI].records == {}


# -- the periodic task: the KPI app kept without cron ---------------------------------------------

KEPT = ("更新対象数", "延長数", "終了数", "未決定数", "延長率", "終了率")


def kpi_records(kintone) -> dict[str, dict]:
    return {r["集計キー"]["value"]: r for r in kintone.apps[KPI].records.values()}


def run_task(ctx, settings, redis_conn, drain, when: datetime) -> str:
    """The workers' ticker offers retention_kpi at ``when`` (the flows' clock too); a real worker runs it."""
    ctx.clock = lambda: when
    bootstrap.set_context(ctx, settings)
    task = next(t for t in periodic.TASKS if t.name == "retention_kpi")
    [job_id] = periodic.PeriodicTicker(settings, tasks=[task]).tick(redis_conn, when)
    drain()
    job = Job.fetch(job_id, connection=redis_conn, serializer=make_queue(redis_conn, settings).serializer)
    assert job.get_status() == "finished", job.exc_info
    return job.return_value()


def test_the_workers_keep_the_previous_months_figures_in_the_kpi_app(ctx, settings, redis_conn, drain, kintone,
                                                                      year):
    december_1 = datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO)  # the task's daily slot: 00:00 UTC

    assert run_task(ctx, settings, redis_conn, drain, december_1) == "2026-11 added=10 updated=0 unchanged=0"
    records = kpi_records(kintone)
    assert len(records) == 10 and all(k.startswith("2026-11:") for k in records)
    assert tuple(records["2026-11:全社:全社"][c]["value"] for c in KEPT) == ("8", "4", "3", "1", "50.0", "37.5")
    assert tuple(records["2026-11:担当営業:suzuki"][c]["value"] for c in KEPT) == ("3", "2", "1", "0", "66.7", "33.3")
    assert tuple(records["2026-11:チーム:東京営業1課"][c]["value"] for c in KEPT) == ("4", "2", "1", "1", "50.0", "25.0")
    assert tuple(records[f"2026-11:派遣先:{B}"][c]["value"] for c in KEPT) == ("3", "0", "2", "1", "0.0", "66.7")
    revisions = {k: r["$revision"]["value"] for k, r in records.items()}

    # The next day's run, nothing new: it reads and writes nothing.
    kintone.calls.clear()
    assert run_task(ctx, settings, redis_conn, drain, december_1 + timedelta(days=1)) == (
        "2026-11 added=0 updated=0 unchanged=10")
    assert {k: r["$revision"]["value"] for k, r in kpi_records(kintone).items()} == revisions
    assert {method for method, _app in kintone.calls} == {"get_records"}

    # Contract 4's 更新結果 is recorded late (延長): the next run updates its four scopes in place.
    kintone.update_record(CONTRACTS, year["4"], {"更新結果": {"value": "延長"}})
    assert run_task(ctx, settings, redis_conn, drain, december_1 + timedelta(days=2)) == (
        "2026-11 added=0 updated=4 unchanged=6")
    records = kpi_records(kintone)
    assert len(records) == 10
    assert tuple(records["2026-11:全社:全社"][c]["value"] for c in KEPT) == ("8", "5", "3", "0", "62.5", "37.5")
    assert records[f"2026-11:派遣先:{A}"]["$revision"]["value"] == revisions[f"2026-11:派遣先:{A}"]  # not A's

    # January's first run writes December and leaves November alone.
    november = {k: r["$revision"]["value"] for k, r in records.items()}
    assert run_task(ctx, settings, redis_conn, drain, datetime(2027, 1, 1, 9, 0, tzinfo=TOKYO)).startswith(
        "2026-12 added=")
    records = kpi_records(kintone)
    assert {k: r["$revision"]["value"] for k, r in records.items() if k.startswith("2026-11:")} == november
    # December: the pattern's 延長, 終了, 延長 on the 15th and one 延長 ending on the 1st.
    assert tuple(records["2026-12:全社:全社"][c]["value"] for c in KEPT) == ("4", "3", "1", "0", "75.0", "25.0")


def test_the_task_is_off_with_zero_and_a_company_without_a_kpi_app_is_told_so(ctx, mappings, settings):
    from mappings import Mappings

    assert settings.retention_kpi_seconds == 24 * 3600
    off = settings.model_copy(update={"retention_kpi_seconds": 0})
    assert "retention_kpi" not in {t.name for t in periodic.enabled(off)}

    ctx.mappings = Mappings([m for m in mappings if m.key != retention.KPI_APP])
    assert retention.keep_kpi(ctx) == "no_kpi_app"


@pytest.mark.parametrize(("today", "month"), [("2026-12-01", "2026-11"), ("2027-01-01", "2026-12"),
                                              ("2026-03-31", "2026-02"), ("2026-11-15", "2026-10")])
def test_the_previous_month(today, month):
    from datetime import date

    assert retention.previous_month(date.fromisoformat(today)) == month
