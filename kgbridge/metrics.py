"""Prometheus metrics, collected from Redis when Prometheus scrapes, never counted per request.

The receiver serves them at ``/metrics`` (webhooks/metrics.py); a worker serves the same figures
plus its own on ``KGBRIDGE_WORKER_METRICS_PORT`` (off by default, loopback unless
``KGBRIDGE_WORKER_METRICS_BIND`` says otherwise). Nothing on the webhook's path changes: each scrape
reads the inbox, the queue's registries, the run counts (kgbridge/history.py) and the heartbeats.

    kgbridge_up                                    1 when Redis answered this scrape, else 0
    kgbridge_inbox_events{list}                    inbox: waiting | in_dispatch | set_aside
    kgbridge_jobs{queue,state,flow}                jobs queued | started | scheduled | deferred | failed
    kgbridge_job_runs_total{flow,state}            job ends: finished | retrying | failed (since Redis began)
    kgbridge_job_failures_total{flow}              jobs that failed for good
    kgbridge_job_failures_24h{flow}                ... of them in the last 24 hours
    kgbridge_workers / kgbridge_dispatchers        live ones
    kgbridge_heartbeat_age_seconds{kind,name}      age of each live worker's and dispatcher's heartbeat
    kgbridge_periodic_last_success_age_seconds{task}   since the task last succeeded (absent: never)
    kgbridge_periodic_last_run_ok{task}            1 ok, 0 failed (absent: never ran)
    kgbridge_kintone_calls_today{app,app_id}       kintone calls today, Japan date (kgbridge/quota.py)
    kgbridge_kintone_quota_share{app,app_id}       ... as a share of the daily quota per app
    kgbridge_kintone_daily_quota                   the quota (KGBRIDGE_KINTONE_DAILY_QUOTA)
    kgbridge_sweeps_slowed                         1 while the non-urgent sweeps run slower for the quota
"""

from __future__ import annotations

import time
from collections import Counter

import redis
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue
from rq.serializers import JSONSerializer

from kgbridge import history
from kgbridge.ops.status import flow_of, read
from kgbridge.ops.when import parse_stamp
from kgbridge.quota import FILE_CALLS
from kgbridge.settings import Settings


class RedisCollector(Collector):
    """Every figure of the service, read from Redis at scrape time."""

    def __init__(self, connection: redis.Redis, settings: Settings, mappings=None) -> None:
        self.connection = connection
        self.settings = settings
        self.mappings = mappings

    def collect(self):
        up = GaugeMetricFamily("kgbridge_up", "1 when Redis answered this scrape")
        try:
            families = list(self._collect())
        except redis.RedisError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _collect(self):
        status = read(self.connection, self.settings, mappings=self.mappings)
        inbox = GaugeMetricFamily("kgbridge_inbox_events", "Events in the inbox, by list", labels=["list"])
        inbox.add_metric(["waiting"], status.inbox)
        inbox.add_metric(["in_dispatch"], status.in_dispatch)
        inbox.add_metric(["set_aside"], status.set_aside)
        yield inbox

        jobs = GaugeMetricFamily("kgbridge_jobs", "Jobs by state and flow", labels=["queue", "state", "flow"])
        for depth in status.queues:
            queue = Queue(depth.name, connection=self.connection, serializer=JSONSerializer)
            for state, ids in (("queued", queue.get_job_ids()),
                               ("started", queue.started_job_registry.get_job_ids()),
                               ("scheduled", queue.scheduled_job_registry.get_job_ids()),
                               ("deferred", queue.deferred_job_registry.get_job_ids()),
                               ("failed", queue.failed_job_registry.get_job_ids())):
                for flow, count in sorted(Counter(flow_of(i) for i in ids).items()):
                    jobs.add_metric([depth.name, state, flow], count)
        yield jobs

        runs = CounterMetricFamily("kgbridge_job_runs", "Job ends by flow and state", labels=["flow", "state"])
        failures = CounterMetricFamily("kgbridge_job_failures", "Jobs that failed for good, by flow", labels=["flow"])
        for (flow, state), count in sorted(history.run_counts(self.connection).items()):
            runs.add_metric([flow, state], count)
            if state == "failed":
                failures.add_metric([flow], count)
        yield runs
        yield failures
        recent = GaugeMetricFamily("kgbridge_job_failures_24h", "Jobs that failed for good in the last 24 h",
                                   labels=["flow"])
        for flow, count in sorted(status.failures_by_flow.items()):
            recent.add_metric([flow], count)
        yield recent

        live = [h for h in status.heartbeats if h.age_seconds is not None]
        yield GaugeMetricFamily("kgbridge_workers", "Live RQ workers",
                                value=sum(h.kind == "worker" for h in live))
        yield GaugeMetricFamily("kgbridge_dispatchers", "Live dispatchers",
                                value=sum(h.kind == "dispatcher" for h in live))
        ages = GaugeMetricFamily("kgbridge_heartbeat_age_seconds", "Age of each live heartbeat",
                                 labels=["kind", "name"])
        for h in live:
            ages.add_metric([h.kind, h.name], h.age_seconds)
        yield ages

        since = GaugeMetricFamily("kgbridge_periodic_last_success_age_seconds",
                                  "Seconds since the periodic task last succeeded", labels=["task"])
        ok = GaugeMetricFamily("kgbridge_periodic_last_run_ok", "1 when the task's last run succeeded",
                               labels=["task"])
        for task in status.tasks:
            last_ok = parse_stamp(task.last_ok)
            if last_ok is not None:
                since.add_metric([task.task], max(0.0, time.time() - last_ok.timestamp()))
            if task.ok is not None:
                ok.add_metric([task.task], 1 if task.ok else 0)
        yield since
        yield ok

        calls = GaugeMetricFamily("kgbridge_kintone_calls_today",
                                  "kintone API calls kgbridge made today (Japan date), per app", labels=["app", "app_id"])
        share = GaugeMetricFamily("kgbridge_kintone_quota_share",
                                  "Share of the daily per-app kintone quota kgbridge used today", labels=["app", "app_id"])
        for app in status.quota.get("apps", []):
            calls.add_metric([app["app"], app["app_id"]], app["calls"])
            if app["app_id"] != FILE_CALLS:
                share.add_metric([app["app"], app["app_id"]], app["share"])
        yield calls
        yield share
        yield GaugeMetricFamily("kgbridge_kintone_daily_quota", "kintone API calls allowed per app per day",
                                value=status.quota.get("quota_per_app", 0))
        yield GaugeMetricFamily("kgbridge_sweeps_slowed", "1 while non-urgent sweeps run slower to spare the quota",
                                value=int(bool(status.quota.get("slowed"))))


def registry_for(connection: redis.Redis, settings: Settings, *extra: Collector, mappings=None) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one) with the service's figures."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RedisCollector(connection, settings, mappings))
    for collector in extra:
        registry.register(collector)
    return registry


class WorkerCollector(Collector):
    """What one worker process says of itself: its RQ counts, its heartbeat, its dispatcher and ticker."""

    def __init__(self, connection: redis.Redis, worker_key: str, dispatcher_name: str, ticker=None) -> None:
        self.connection = connection
        self.worker_key = worker_key
        self.dispatcher_name = dispatcher_name
        self.ticker = ticker

    def collect(self):
        from kgbridge.dispatch import alive_key

        try:
            data = {k.decode(): v.decode() for k, v in self.connection.hgetall(self.worker_key).items()}
            beat = self.connection.get(alive_key(self.dispatcher_name))
        except redis.RedisError:
            return
        jobs = CounterMetricFamily("kgbridge_worker_jobs", "Jobs this worker ran, by outcome", labels=["outcome"])
        jobs.add_metric(["successful"], float(data.get("successful_job_count") or 0))
        jobs.add_metric(["failed"], float(data.get("failed_job_count") or 0))
        yield jobs
        yield CounterMetricFamily("kgbridge_worker_working_seconds", "Time this worker spent running jobs",
                                  value=float(data.get("total_working_time") or 0))
        last = parse_stamp(data.get("last_heartbeat"))
        if last is not None:
            yield GaugeMetricFamily("kgbridge_worker_heartbeat_age_seconds", "Age of this worker's RQ heartbeat",
                                    value=max(0.0, time.time() - last.timestamp()))
        if beat is not None:
            try:
                age = max(0.0, time.time() - float(beat))
            except ValueError:
                age = 0.0
            yield GaugeMetricFamily("kgbridge_worker_dispatcher_heartbeat_age_seconds",
                                    "Age of this worker's dispatcher heartbeat", value=age)
        if self.ticker is not None:
            yield GaugeMetricFamily("kgbridge_worker_ticker_alive", "1 while the periodic-task ticker runs",
                                    value=1 if self.ticker.is_alive() else 0)


def serve_worker_metrics(settings: Settings, connection: redis.Redis, worker_key: str, dispatcher_name: str,
                         ticker=None, mappings=None):
    """Serve a worker's metrics on KGBRIDGE_WORKER_METRICS_PORT (a thread); None when it is 0 (off)."""
    if not settings.worker_metrics_port:
        return None
    from prometheus_client import start_http_server

    registry = registry_for(connection, settings, WorkerCollector(connection, worker_key, dispatcher_name, ticker),
                            mappings=mappings)
    server, _thread = start_http_server(settings.worker_metrics_port, addr=settings.worker_metrics_bind,
                                        registry=registry)
    return server
