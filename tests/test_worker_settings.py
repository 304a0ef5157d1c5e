"""The worker's recovery settings: how fast a dead worker's job is found, and the settings' checks."""

from __future__ import annotations

import pytest
from rq import Queue
from rq.serializers import JSONSerializer

from kgbridge.settings import SettingsError, load_settings
from worker import KgbridgeWorker, make_worker


def test_retry_intervals_are_read_from_the_environment_as_the_readme_writes_them(monkeypatch, redis_url):
    monkeypatch.setenv("KGBRIDGE_RETRY_INTERVALS", "10, 60,300")

    assert load_settings(connector_mode="fake", redis_url=redis_url).retry_intervals == [10, 60, 300]


def test_a_heartbeat_lapse_shorter_than_the_heartbeat_is_refused_naming_both_variables(monkeypatch):
    monkeypatch.setenv("KGBRIDGE_WORKER_HEARTBEAT_SECONDS", "30")
    monkeypatch.setenv("KGBRIDGE_WORKER_DEAD_AFTER_SECONDS", "30")

    with pytest.raises(SettingsError, match=r"KGBRIDGE_WORKER_DEAD_AFTER_SECONDS.*KGBRIDGE_WORKER_HEARTBEAT_SECONDS"):
        load_settings(connector_mode="fake")


@pytest.mark.parametrize(("heartbeat", "dead_after", "working", "expected"), [
    (30, 90, 0, 90),  # the defaults: RQ's own 30 + 60
    (1, 3, 0, 3),  # the fault tests' settings
    (30, 90, 170, 70),  # 10 s of the 180 s job timeout left: the lapse shrinks with it, as in RQ
])
def test_a_running_jobs_heartbeat_lapses_after_the_configured_time(heartbeat, dead_after, working, expected,
                                                                   settings, redis_conn):
    settings = settings.model_copy(update={"worker_heartbeat_seconds": heartbeat,
                                           "worker_dead_after_seconds": dead_after})
    worker = make_worker(settings, redis_conn)
    job = Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).enqueue(
        "benchmarks.jobs.noop", job_timeout=settings.job_timeout_seconds)
    worker.current_job_working_time = working

    assert isinstance(worker, KgbridgeWorker)
    assert worker.get_heartbeat_ttl(job) == expected
    assert worker.maintenance_interval == settings.worker_maintenance_seconds
    assert worker.dequeue_timeout <= settings.worker_maintenance_seconds  # an idle worker looks that often
