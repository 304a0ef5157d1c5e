"""The kintone-call benchmark (benchmarks/kintone_calls.py, docs/benchmarks.md §5) covers every flow,
and each of its scenarios still sets up what it names. Call counts are figures for the benchmark to
print; the flows' own tests assert theirs."""

from __future__ import annotations

from benchmarks import kintone_calls
from flows import FLOWS


def test_every_registered_flow_has_kintone_call_scenarios():
    assert {scenario.flow for scenario in kintone_calls.SCENARIOS} == set(FLOWS)


def test_each_scenario_ends_with_the_outcome_it_is_named_for():
    rows = kintone_calls.run(quiet=False)

    drifted = [(r["flow"], r["scenario"], r["outcome"]) for r in rows if r["outcome"] != r["expected_outcome"]]
    assert drifted == []
    assert all(r["calls"] >= 1 for r in rows)  # every run reads what it decides on
