"""Faults in work done per page (issue 17): a worker killed between the bulk calls of a backlog, or
around one; a bulk call kintone refused half-way (rolled back whole) or answered with a 5xx after
it was done. Each effect happens once: every order sent for approval once, every rep told once.

Real ``python worker.py`` processes on the live kintone client talk to the loopback kintone
(tests/kintone_server.py), which holds a bulkRequest open so the kill lands at a known point. The
page jobs are what a reconcile sweep enqueues for a backlog whose webhooks were lost.
"""

from __future__ import annotations

import pytest

from kgbridge.ops import reconcile
from tests.fault_kit import (
    MISSING_ITEMS,
    ORDERS,
    failed_jobs,
    finished_jobs,
    queued,
    seed_client,
    seed_order,
    start_kintone,
)
from tests.kintone_server import unavailable
from tests.pii import API_TOKENS
from tests.procs import start_worker, stop_process, wait_until, worker_env
from tests.test_faults_worker_kill import _kill_midway

pytestmark = pytest.mark.timeout(300)

RECOVERY_BOUND = 120.0  # generous: a loaded CI machine; the wait ends as soon as the work is done
WAITING = "上長承認待ち"


@pytest.fixture
def workers():
    started = []
    yield started
    for proc in started:
        stop_process(proc)


def backlog(fake, complete: int, incomplete: int = 0) -> tuple[list[str], list[str]]:
    client = seed_client(fake)
    return ([seed_order(fake, client) for _ in range(complete)],
            [seed_order(fake, client, complete=False) for _ in range(incomplete)])


def sweep(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=fake, connection=redis_conn,
                               app_key="orders")
    assert report.page_jobs, "the backlog should have gone to page jobs"
    return report


def all_done(redis_conn, settings, report) -> bool:
    return queued(redis_conn, settings) == 0 and set(report.page_jobs) <= set(finished_jobs(redis_conn, settings))


def sent_once(fake, ids: list[str]) -> None:
    assert {fake.record_values(ORDERS, r)["ステータス"] for r in ids} == {WAITING}
    assert {fake.record_values(ORDERS, r)["$revision"] for r in ids} == {"3"}  # one action each (+2), no more


def told_once(fake, ids: list[str]) -> None:
    for rid in ids:
        [text] = fake.comment_texts(ORDERS, rid)
        assert all(f"・{item}" in text for item in MISSING_ITEMS)
        assert fake.record_values(ORDERS, rid)["ステータス"] == "未処理"


def env_for(redis_url, server):
    return worker_env(redis_url, server.url, {"orders": API_TOKENS["orders"], "clients": API_TOKENS["clients"],
                                              "visits": API_TOKENS["visits"]})  # the clients' visits (seed A-3)


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone ran the first page's bulk actions, before its answer", "worker"),
    ("after kintone ran the first page's bulk actions, before its answer", "work horse"),
    ("after the page's comments, before its bulk call", "worker"),
])
def test_a_worker_killed_around_a_bulk_call_ends_with_each_effect_once(case, dies, kintone, mappings, settings,
                                                                      redis_conn, redis_url, workers):
    complete, incomplete = backlog(kintone, 600, 5)  # two pages: 500 + 105 orders
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server:
        held = server.hold("POST", "bulkRequest", after_effect=case.startswith("after kintone ran"))
        env = env_for(redis_url, server)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(30), "the page job never reached its bulk call"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    sent_once(kintone, complete)
    told_once(kintone, incomplete)
    assert kintone.calls[("update_status", ORDERS)] == 0  # nobody fell back to one action per order
    assert failed_jobs(redis_conn, settings) == []


def test_a_bulk_call_refused_half_way_is_rolled_back_and_nothing_happens_twice(kintone, mappings, settings,
                                                                               redis_conn, redis_url, workers):
    complete, _ = backlog(kintone, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    edited = complete[130]  # in the bulkRequest's second PUT records/status.json
    with start_kintone(kintone, mappings) as server:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        assert held.reached.wait(30)
        kintone.update_record(ORDERS, edited, {"就業先環境・ルール": {"value": "入館証は初日に受付で受け取る"}})
        held.release()  # kintone refuses request 2: the first 100 actions are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "the page job to finish")
        wait_until(lambda: queued(redis_conn, settings) == 0 and kintone.calls[("update_status", ORDERS)] == 1,
                   RECOVERY_BOUND, "the edited order's own job")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    sent_once(kintone, [r for r in complete if r != edited])
    assert kintone.record_values(ORDERS, edited)["ステータス"] == WAITING  # by its ordinary job
    assert kintone.record_values(ORDERS, edited)["$revision"] == "4"  # the person's edit, then one action
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_ran_the_bulk_call_does_not_run_it_twice(kintone, mappings, settings, redis_conn,
                                                                     redis_url, workers):
    complete, incomplete = backlog(kintone, 150, 3)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")

    sent_once(kintone, complete)
    told_once(kintone, incomplete)
    assert failed_jobs(redis_conn, settings) == []
