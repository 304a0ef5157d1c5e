"""The latency benchmark refuses to print a figure that measured something else (issue 17)."""

import pytest

from benchmarks import latency
from kgbridge.settings import load_settings


def test_a_negative_latency_is_refused_with_the_reason():
    with pytest.raises(latency.MeasurementError, match="before their webhook"):
        latency.check([12.0, -2692.0, 30.0], kintone_requests=12, events=3)


def test_requests_beyond_four_per_order_are_refused():
    # the 2026-12-01 run: 904 requests for 300 orders (the reconcile sweep's queries on top)
    with pytest.raises(latency.MeasurementError, match="904 kintone requests for 300 orders"):
        latency.check([20.0] * 300, kintone_requests=904, events=300)


def test_no_effect_at_all_is_refused():
    with pytest.raises(latency.MeasurementError, match="none of 5"):
        latency.check([], kintone_requests=0, events=5)


def test_a_clean_run_passes():
    latency.check([20.0, 23.0, 35.0], kintone_requests=12, events=3)


def test_the_measured_worker_runs_no_periodic_task():
    from kgbridge import periodic

    settings = load_settings(connector_mode="fake", **latency.PERIODIC_OFF)
    assert periodic.enabled(settings) == []
