"""Prometheus metrics: the receiver's /metrics and a worker's own port, read from a real Redis after
real webhooks and real RQ jobs; ``kgbridge worker-check`` against a real ``python worker.py``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from rq import Worker
from rq.serializers import JSONSerializer

from connectors.kintone import KintoneAuthError
from kgbridge.dispatch import Dispatcher
from kgbridge.jobs import make_queue
from kgbridge.metrics import WorkerCollector, registry_for
from kgbridge.samples import notification, seed_embedded
from tests.conftest import WEBHOOK_TOKEN
from tests.procs import ROOT, free_port, start_worker, stop_process, wait_until, worker_env
from webhooks import create_app

ORDERS = "3"
METRICS_TOKEN = "metrics-token-0123456789"


@pytest.fixture
def ids(kintone, mappings):
    return seed_embedded(kintone, mappings)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """{(sample name, sorted labels): value} of a Prometheus text answer."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def post(client, kintone, record_id):
    body = notification(kintone, ORDERS, record_id)
    return client.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(body),
                       content_type="application/json")


def test_receiver_metrics_show_inbox_jobs_runs_and_failures_by_flow(settings, redis_conn, kintone, ids, ctx, drain):
    client = create_app(settings, connection=redis_conn).test_client()
    assert post(client, kintone, ids["order_complete"]).status_code == 200
    assert post(client, kintone, ids["order_incomplete"]).status_code == 200

    got = samples(client.get("/metrics").get_data(as_text=True))
    assert got[("kgbridge_up", ())] == 1
    assert got[("kgbridge_inbox_events", (("list", "waiting"),))] == 2
    assert got[("kgbridge_dispatchers", ())] == 0 and got[("kgbridge_workers", ())] == 0

    Dispatcher(redis_conn, settings, ctx.mappings).step()  # one event becomes one queued job
    got = samples(client.get("/metrics").get_data(as_text=True))
    assert got[("kgbridge_inbox_events", (("list", "waiting"),))] == 1
    assert got[("kgbridge_jobs", (("flow", "order_registration"), ("queue", "kgbridge"), ("state", "queued")))] == 1

    kintone.fail_next("get_record", KintoneAuthError("GET record.json: bad token", status=401, code="CB_AU01"))
    drain()
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    got = samples(response.get_data(as_text=True))
    flow = (("flow", "order_registration"),)
    assert got[("kgbridge_job_runs_total", (*flow, ("state", "failed")))] == 1
    assert got[("kgbridge_job_runs_total", (*flow, ("state", "finished")))] == 1
    assert got[("kgbridge_job_failures_total", flow)] == 1
    assert got[("kgbridge_job_failures_24h", flow)] == 1
    assert got[("kgbridge_jobs", (*flow, ("queue", "kgbridge"), ("state", "failed")))] == 1
    assert got[("kgbridge_inbox_events", (("list", "waiting"),))] == 0


def test_metrics_want_the_bearer_token_when_one_is_set(settings, redis_conn):
    secured = settings.model_copy(update={"metrics_token": SecretStr(METRICS_TOKEN)})
    client = create_app(secured, connection=redis_conn).test_client()

    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token-0123456789"}).status_code == 401
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status_code == 200 and "kgbridge_up 1.0" in ok.get_data(as_text=True)


def test_metrics_say_redis_is_down_instead_of_failing(settings):
    import redis

    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    response = create_app(settings, connection=dead).test_client().get("/metrics")

    assert response.status_code == 200
    assert samples(response.get_data(as_text=True)) == {("kgbridge_up", ()): 0}


def test_periodic_task_age_and_worker_heartbeats(settings, redis_conn, mappings):
    from kgbridge import history

    worker = Worker([make_queue(redis_conn, settings)], connection=redis_conn, serializer=JSONSerializer)
    worker.register_birth()
    dispatcher = Dispatcher(redis_conn, settings, mappings, name="host-a:1:abc")
    dispatcher.beat()
    redis_conn.hset(history.task_run_key("reconcile"), mapping={
        "ok": "1", "ended": "2026-11-24T01:00:00+00:00", "last_ok": history.now_iso(), "outcome": "enqueued 0"})

    got = samples(_text(redis_conn, settings, worker, dispatcher))

    assert got[("kgbridge_workers", ())] == 1 and got[("kgbridge_dispatchers", ())] == 1
    assert 0 <= got[("kgbridge_periodic_last_success_age_seconds", (("task", "reconcile"),))] < 60
    assert got[("kgbridge_periodic_last_run_ok", (("task", "reconcile"),))] == 1
    assert ("kgbridge_periodic_last_run_ok", (("task", "deadlines"),)) not in got  # never ran
    assert got[("kgbridge_worker_jobs_total", (("outcome", "successful"),))] == 0
    assert 0 <= got[("kgbridge_worker_dispatcher_heartbeat_age_seconds", ())] < 60  # seconds, on a busy machine
    assert 0 <= got[("kgbridge_heartbeat_age_seconds", (("kind", "worker"), ("name", worker.name)))] < 60
    worker.register_death()


def _text(connection, settings, worker, dispatcher) -> str:
    from prometheus_client import generate_latest

    registry = registry_for(connection, settings, WorkerCollector(connection, worker.key, dispatcher.name))
    return generate_latest(registry).decode()


# -- a real worker process: its own metrics port and the liveness check ------------------------

def kgbridge(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from cli import main; main()", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.e2e
def test_a_running_worker_serves_its_metrics_and_passes_worker_check(redis_url, redis_conn):
    port = free_port()
    env = worker_env(redis_url, "http://127.0.0.1:9", {"orders": "t"}, worker_metrics_port=port,
                     worker_maintenance_seconds=5)
    assert kgbridge(env, "worker-check").returncode == 1  # nothing runs yet
    proc = start_worker(env, "metrics-worker")
    try:
        def scrape():
            try:
                return requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except requests.RequestException:
                return None

        text = wait_until(lambda: (t := scrape()) and "kgbridge_worker_jobs_total" in t and t, 30,
                          "the worker's metrics port to answer")
        got = samples(text)
        assert got[("kgbridge_up", ())] == 1 and got[("kgbridge_workers", ())] == 1
        assert got[("kgbridge_worker_jobs_total", (("outcome", "successful"),))] == 0
        assert ("kgbridge_worker_dispatcher_heartbeat_age_seconds", ()) in got

        check = wait_until(lambda: (r := kgbridge(env, "worker-check")).returncode == 0 and r, 30,
                           "worker-check to pass")
        assert check.stdout.startswith("ok: 1 worker(s) and 1 dispatcher(s) alive on ")
    finally:
        stop_process(proc)
    redis_conn.delete(*redis_conn.keys("rq:worker*") or ["-"])
    failed = kgbridge(env, "worker-check")
    assert failed.returncode == 1 and "no RQ worker on" in failed.stderr


def test_metrics_give_todays_kintone_calls_by_app_against_the_quota(settings, redis_conn):
    from kgbridge import quota

    redis_conn.hset(quota.day_key(), mapping={ORDERS: 2500, quota.FILE_CALLS: 3})
    got = samples(create_app(settings, connection=redis_conn).test_client().get("/metrics").get_data(as_text=True))

    orders = (("app", "orders"), ("app_id", ORDERS))
    assert got[("kgbridge_kintone_calls_today", orders)] == 2500
    assert got[("kgbridge_kintone_quota_share", orders)] == 0.25
    assert got[("kgbridge_kintone_calls_today", (("app", "clients"), ("app_id", "1")))] == 0  # mapped, unused
    assert got[("kgbridge_kintone_calls_today", (("app", "file"), ("app_id", "file")))] == 3
    assert ("kgbridge_kintone_quota_share", (("app", "file"), ("app_id", "file"))) not in got
    assert got[("kgbridge_kintone_daily_quota", ())] == settings.kintone_daily_quota
    assert got[("kgbridge_sweeps_slowed", ())] == 0
