"""``kgbridge status`` and ``kgbridge jobs list``: what an operator sees of the live system, from a
real Redis after real RQ workers ran real flow jobs on the fake kintone."""

from __future__ import annotations

import json

import pytest
from rq import Worker
from rq.serializers import JSONSerializer

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from connectors.kintone import KintoneAuthError
from kgbridge import bootstrap, periodic
from kgbridge.dispatch import Dispatcher
from kgbridge.inbox import inbox_key
from kgbridge.jobs import make_queue
from kgbridge.samples import notification, seed_embedded
from tests.records import at
from webhooks.intake import accept_kintone, parse_kintone

ORDERS = "3"
WEDNESDAY_MORNING = "2026-11-25T10:00"


@pytest.fixture
def ids(kintone, mappings):
    return seed_embedded(kintone, mappings)


@pytest.fixture
def live(redis_conn, settings, mappings):
    """A worker and a dispatcher that said they are alive, as running ones do."""
    worker = Worker([make_queue(redis_conn, settings)], connection=redis_conn, serializer=JSONSerializer)
    worker.register_birth()
    dispatcher = Dispatcher(redis_conn, settings, mappings, name="host-a:1:abc")
    dispatcher.beat()
    yield worker, dispatcher
    worker.register_death()


def deliver(kintone, ops_env, record_id, **kw):
    body = json.dumps(notification(kintone, ORDERS, record_id, **kw)).encode()
    return accept_kintone(parse_kintone(body), **ops_env.intake()).jobs


def auth_error():
    return KintoneAuthError("GET record.json: API token is invalid", status=401, code="CB_AU01")


def test_nothing_running_is_critical(cli):
    result = cli("status")

    assert result.exit_code == 2
    assert "CRITICAL" in result.stdout
    assert "no live worker" in result.stdout and "no live dispatcher" in result.stdout
    data = json.loads(cli("status", "--json").stdout)
    assert data["level"] == "critical" and data["exit_code"] == 2
    assert data["workers"] == [] and data["dispatchers"] == []


def test_a_healthy_idle_service_is_ok_and_shows_its_workers_and_dispatchers(cli, live):
    worker, dispatcher = live

    result = cli("status")

    assert result.exit_code == 0, result.stdout
    assert "kgbridge status: OK" in result.stdout
    data = json.loads(cli("status", "--json").stdout)
    assert [w["name"] for w in data["workers"]] == [worker.name]
    assert [d["name"] for d in data["dispatchers"]] == [dispatcher.name]
    assert 0 <= data["dispatchers"][0]["age_seconds"] < 60 and 0 <= data["workers"][0]["age_seconds"] < 60
    assert data["queues"][0] == {"name": "kgbridge", "queued": 0, "started": 0, "scheduled": 0, "deferred": 0,
                                 "failed": 0}
    assert data["inbox"] == {"backlog": 0, "in_dispatch": 0, "set_aside": 0}


def test_inbox_backlog_queue_depth_set_aside_and_a_lapsed_dispatcher(cli, live, kintone, ops_env, ids, redis_conn,
                                                                     settings):
    deliver(kintone, ops_env, ids["order_complete"])
    deliver(kintone, ops_env, ids["order_incomplete"])
    data = json.loads(cli("status", "--json").stdout)
    assert data["inbox"]["backlog"] == 2 and data["queues"][0]["queued"] == 0

    Dispatcher(redis_conn, settings, ops_env.mappings).step()  # one event dispatched: one job queued
    redis_conn.rpush(f"{inbox_key(settings)}:unroutable", b"{}")
    redis_conn.delete("kgbridge:dispatcher:host-a:1:abc:alive")  # its heartbeat lapsed

    result = cli("status", "--json")
    data = json.loads(result.stdout)
    assert data["inbox"] == {"backlog": 1, "in_dispatch": 0, "set_aside": 1}
    assert data["queues"][0]["queued"] == 1
    lapsed = [d for d in data["dispatchers"] if d["name"] == "host-a:1:abc"]
    assert lapsed[0]["age_seconds"] is None
    assert result.exit_code == 2  # no dispatcher is alive now: recorded events wait
    problems = [p["problem"] for p in data["problems"]]
    assert any("1 event(s) set aside" in p for p in problems)


def test_failures_of_the_last_day_warn_and_name_their_flow(cli, live, kintone, ops_env, ids, drain):
    deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    drain()
    live[1].beat()  # drain's dispatcher closed; ours is still alive

    result = cli("status")

    assert result.exit_code == 1, result.stdout
    assert "WARNING" in result.stdout
    assert "1 job(s) failed in the last 24 h (order_registration 1)" in result.stdout
    data = json.loads(cli("status", "--json").stdout)
    assert data["failures_24h"] == {"count": 1, "by_flow": {"order_registration": 1}}
    assert data["queues"][0]["failed"] == 1


def test_each_periodic_task_shows_its_last_run_and_a_failed_one_warns(cli, live, settings, redis_conn, ctx,
                                                                     kintone, drain):
    ctx.gstaff, ctx.gmosign = FakeGStaff.with_samples(), FakeGmoSign()
    ctx.clock = lambda: at(WEDNESDAY_MORNING)
    bootstrap.set_context(ctx, settings)
    periodic.PeriodicTicker(settings).tick(redis_conn)
    drain()
    live[1].beat()

    data = json.loads(cli("status", "--json").stdout)
    tasks = {t["task"]: t for t in data["periodic"]}
    assert set(tasks) == {t.name for t in periodic.TASKS}
    assert all(t["ok"] is True and t["ended"] and t["last_ok"] == t["ended"] for t in tasks.values())
    assert tasks["reconcile"]["outcome"] == "enqueued 0"
    assert tasks["deadlines"]["outcome"] == "swept"
    assert cli("status").exit_code == 0

    # The next hour's slot: kintone refuses our token, every task fails.
    redis_conn.flushdb()
    live[0].register_birth()
    live[1].beat()
    kintone.fail_next("get_records", KintoneAuthError("GET records.json: bad token", status=401, code="CB_AU01"),
                      times=100)
    periodic.PeriodicTicker(settings).tick(redis_conn)
    drain()
    live[1].beat()

    result = cli("status")
    data = json.loads(cli("status", "--json").stdout)
    tasks = {t["task"]: t for t in data["periodic"]}
    assert result.exit_code == 1
    assert tasks["reconcile"]["ok"] is False and tasks["reconcile"]["outcome"].startswith("ReconcileFailed")
    assert "periodic task reconcile: last run failed (ReconcileFailed" in result.stdout
    reading = {"reconcile", "deadlines", "workflow_delays", "open_envelopes", "retention_kpi"}  # they query records
    assert data["failures_24h"]["by_flow"] == {name: 1 for name in reading}
    assert all(tasks[name]["ok"] is (name not in reading) for name in tasks)


def test_redis_unreachable_is_critical(cli, ops_env):
    import redis

    ops_env.connection_ = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)

    result = cli("status")

    assert result.exit_code == 2
    assert "Redis does not answer (ConnectionError)" in result.stdout


# -- run history per record -------------------------------------------------------------------

def test_jobs_list_shows_what_ran_on_a_record_and_what_it_decided(cli, kintone, ops_env, ids, drain):
    [held] = deliver(kintone, ops_env, ids["order_incomplete"])
    [approved] = deliver(kintone, ops_env, ids["order_complete"])
    drain()

    result = cli("jobs", "list", "--app", "orders", "--record", ids["order_incomplete"])

    assert result.exit_code == 0
    assert "order_registration" in result.stdout and "finished" in result.stdout
    assert "told_rep_missing_items — held: missing" in result.stdout
    [run] = json.loads(cli("jobs", "list", "--app", "orders", "--record", ids["order_incomplete"], "--json")
                       .stdout)["runs"]
    assert run["job_id"] == held and run["state"] == "finished" and run["source"] == "webhook"
    assert run["outcome"] == "told_rep_missing_items"
    assert run["detail"][0].startswith("held: missing 募集背景")  # the Japanese labels of what is missing
    [run] = json.loads(cli("jobs", "list", "--app", ORDERS, "--record", ids["order_complete"], "--json")
                       .stdout)["runs"]  # by kintone app id too
    assert run["job_id"] == approved and run["outcome"] == "sent_for_supervisor_approval"
    assert run["detail"] == ["approval requested (上長承認依頼)"]

    shown = cli("jobs", "show", approved)
    assert "Outcome   sent_for_supervisor_approval" in shown.stdout and "approval requested" in shown.stdout
    assert json.loads(cli("jobs", "show", approved, "--json").stdout)["outcome"] == "sent_for_supervisor_approval"


def test_jobs_list_keeps_failures_and_the_replay_that_finished_it(cli, kintone, ops_env, ids, drain):
    [job_id] = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    drain()
    assert cli("jobs", "replay", job_id).exit_code == 0
    drain()

    runs = json.loads(cli("jobs", "list", "--app", "orders", "--record", ids["order_complete"], "--json")
                      .stdout)["runs"]

    assert [(r["state"], r["attempt"]) for r in runs] == [("finished", 2), ("failed", 1)]
    assert runs[1]["outcome"].startswith("KintoneAuthError: [401] [CB_AU01]")
    failed_only = json.loads(cli("jobs", "list", "--app", "orders", "--record", ids["order_complete"],
                                 "--state", "failed", "--json").stdout)["runs"]
    assert [r["state"] for r in failed_only] == ["failed"]


def test_jobs_list_for_a_record_without_runs_and_an_unknown_app(cli):
    result = cli("jobs", "list", "--app", "orders", "--record", "999")
    assert result.exit_code == 0 and "No runs recorded for orders #999" in result.stdout
    bad = cli("jobs", "list", "--app", "nosuch", "--record", "1")
    assert bad.exit_code == 2 and "no mapping for 'nosuch'" in bad.output


def test_the_history_of_a_record_is_bounded(redis_conn):
    from rq.job import Job

    from kgbridge import history

    job = Job.create("kgbridge.jobs.run_flow", connection=redis_conn, serializer=JSONSerializer,
                     id="order_registration-orders-1-r1",
                     meta={"flow": "order_registration", "app": "orders", "record_id": "1", "attempts": []})
    for _ in range(history.HISTORY_MAX + 20):
        history.record_run(redis_conn, job, "finished", "nothing_to_do")

    assert redis_conn.llen(history.history_key("orders", "1")) == history.HISTORY_MAX
    assert 0 < redis_conn.ttl(history.history_key("orders", "1")) <= history.HISTORY_TTL_SECONDS


# -- kintone quota (kgbridge/quota.py) in status, and page jobs in the history -----------------

def test_status_shows_todays_kintone_calls_and_warns_once_sweeps_are_slowed(cli, live, redis_conn, settings):
    from kgbridge import quota

    redis_conn.hset(quota.day_key(), mapping={ORDERS: 1234})
    data = json.loads(cli("status", "--json").stdout)
    orders = next(a for a in data["kintone_quota"]["apps"] if a["app"] == "orders")
    assert (orders["calls"], orders["quota"]) == (1234, settings.kintone_daily_quota)
    assert data["kintone_quota"]["slowed"] is False
    result = cli("status")
    assert result.exit_code == 0 and "orders 1,234 (12.3%)" in result.stdout

    redis_conn.hset(quota.day_key(), mapping={ORDERS: int(settings.kintone_daily_quota * 0.61)})
    result = cli("status")
    assert result.exit_code == 1
    assert "kintone quota: past 60% of today's 10,000 calls (orders 61%); non-urgent sweeps slowed" in result.stdout


def test_each_order_a_page_job_decided_has_its_entry_in_the_history(cli, ctx, kintone, mappings, settings,
                                                                    redis_conn, drain):
    from kgbridge.jobs import flow_enqueuer, many_enqueuer
    from kgbridge.ops import reconcile
    from kgbridge.samples import COMPLETE_ORDER
    from tests.people import TUESDAY_MORNING, new_client

    ctx.clock = lambda: TUESDAY_MORNING
    ctx.enqueue, ctx.enqueue_many = flow_enqueuer(redis_conn, settings), many_enqueuer(redis_conn, settings)
    client = new_client(kintone, name="株式会社サンプル物流", credit="承認")
    ids = [kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=client)) for _ in range(25)]  # webhooks lost
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=kintone, connection=redis_conn,
                               app_key="orders")
    [page] = report.page_jobs
    drain()

    [run] = json.loads(cli("jobs", "list", "--app", "orders", "--record", ids[7], "--json").stdout)["runs"]
    assert run["job_id"] == page and run["state"] == "finished" and run["source"] == "reconcile"
    assert run["outcome"] == "sent_for_supervisor_approval"
    assert run["detail"] == ["approval requested (上長承認依頼), in bulk"]
