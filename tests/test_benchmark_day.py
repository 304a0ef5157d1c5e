"""The business-day benchmark (benchmarks/day.py, ``--only day``) replays what it says: every periodic
task in each slot of its interval, the business-hours sweeps only in business hours, the changes of
each business hour. Its figures are the benchmark's to print; these checks keep it honest."""

from __future__ import annotations

from benchmarks import day
from kgbridge import periodic
from kgbridge.ops.reconcile import record_triggers
from kgbridge.settings import load_settings
from mappings import load_mappings
from tests.conftest import ROOT


def test_a_small_day_runs_every_sweep_in_its_slots():
    mappings = load_mappings(ROOT / "mappings" / "default")
    [result] = day.run(sizes=(50,), quiet=False)
    settings = load_settings(connector_mode="fake")
    reconcile_runs = 24 * 3600 // next(t for t in periodic.TASKS if t.name == "reconcile").interval(settings)

    for mapping in mappings:
        figures = result["apps"][mapping.key]
        # an idle or quiet app costs one query per reconcile sweep (fewer than a page changed in its window)
        assert figures["sweeps"]["reconcile"] == (reconcile_runs if record_triggers(mapping) else 0)
        assert figures["sweep_calls"] == sum(figures["sweeps"].values())
        assert figures["total"] == figures["sweep_calls"] + figures["flow_calls_estimated"]
        assert figures["changes"] == 9 * max(1, int(50 * day.CHANGED_PER_BUSINESS_HOUR))  # 09:00–18:00
    # the deadline sweep runs in business hours only: 18 half-hour slots, at least one query each on inquiries
    assert 18 <= result["apps"]["inquiries"]["sweeps"]["deadlines"]
    # the KPI app's 延長率 once a day: the month's renewals due (one query), then the KPI records
    assert result["apps"]["contracts"]["sweeps"]["retention_kpi"] == 1
    assert result["apps"]["retention_kpi"]["sweeps"]["retention_kpi"] == 2  # its query, November's first write
    assert "of 10,000" in day.render([result])
