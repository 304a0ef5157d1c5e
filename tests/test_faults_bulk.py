"""Faults in work done per page (issue 17): a worker killed between the bulk calls of a backlog, or
around one; a bulk call kintone refused half-way (rolled back whole) or answered with a 5xx after
it was done. Each effect happens once: every order sent for approval once, every rep told once;
every inquiry of a bulk import linked to its G-Staff client once, with one comment for a client with a
risk, and every client new to G-Staff registered there once (the client lookup's page path, against the loopback G-Staff).

Real ``python worker.py`` processes on the live kintone client talk to the loopback kintone
(tests/kintone_server.py), which holds a bulkRequest open so the kill lands at a known point. The
page jobs are what a reconcile sweep enqueues for a backlog whose webhooks were lost.
"""

from __future__ import annotations

import pytest

from kgbridge.ops import reconcile
from tests.fault_kit import (
    INQUIRIES,
    MISSING_ITEMS,
    ORDERS,
    failed_jobs,
    finished_jobs,
    gstaff_knowing_the_company,
    gstaff_settings,
    queued,
    seed_client,
    seed_inquiry,
    seed_order,
    start_gstaff,
    start_kintone,
)
from tests.kintone_server import unavailable
from tests.pii import API_TOKENS
from tests.procs import start_worker, stop_process, wait_until, worker_env
from tests.records import without_flow
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


# -- the client lookup of a bulk import of inquiries (flows/client_lookup.run_page) ------------------


def inquiry_import(fake, known: int, new: int) -> tuple[list[str], list[str]]:
    return ([seed_inquiry(fake) for _ in range(known)],
            [seed_inquiry(fake, company=f"株式会社はじめて製作所{i}号", phone="") for i in range(new)])


def sweep_inquiries(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    """The lookup's page jobs only: routing (one job per inquiry) is not what these faults are about."""
    [report] = reconcile.sweep(settings=settings, mappings=without_flow(mappings, "inquiry_routing"), kintone=fake,
                               connection=redis_conn, app_key="inquiries")
    assert report.page_jobs, "the import should have gone to page jobs"
    return report


def inquiry_env(redis_url, server, gserver):
    return worker_env(redis_url, server.url, {"inquiries": API_TOKENS["inquiries"]}, **gstaff_settings(gserver))


def linked_once(fake, gstaff, known: list[str], new: list[str]) -> None:
    for rid in known + new:
        record = fake.record_values(INQUIRIES, rid)
        assert record["$revision"] == "2", rid  # one write-back, no more
    for rid in known:  # G-2001's 離職率 is above the threshold: the rep is told, once
        [text] = fake.comment_texts(INQUIRIES, rid)
        assert fake.record_values(INQUIRIES, rid)["Gスタッフ顧客ID"] in text and "離職率 20%" in text
    assert all(fake.comment_texts(INQUIRIES, rid) == [] for rid in new)  # a new client: nothing to act on
    assert {fake.record_values(INQUIRIES, r)["Gスタッフ顧客ID"] for r in known} == {"G-2001"}
    assert sorted(c.name for c in gstaff.registrations) == sorted(f"株式会社はじめて製作所{i}号" for i in range(len(new)))
    assert len({fake.record_values(INQUIRIES, r)["Gスタッフ顧客ID"] for r in new}) == len(new)


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone wrote the first page back, before its answer", "worker"),
    ("after kintone wrote the first page back, before its answer", "work horse"),
    ("after the page's comments and registrations, before its bulk write", "worker"),
])
def test_a_worker_killed_around_a_lookup_pages_bulk_write_ends_with_each_effect_once(
        case, dies, kintone, mappings, settings, redis_conn, redis_url, workers):
    known, new = inquiry_import(kintone, 595, 5)  # two pages: 500 (a bulkRequest) + 100 (one PUT records.json)
    gstaff = gstaff_knowing_the_company()
    report = sweep_inquiries(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=case.startswith("after kintone wrote"))
        env = inquiry_env(redis_url, server, gserver)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), "the page job never reached its bulk write"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    linked_once(kintone, gstaff, known, new)
    assert kintone.calls[("update_record", INQUIRIES)] == 0  # nobody fell back to one write per inquiry
    assert failed_jobs(redis_conn, settings) == []


def test_a_lookup_pages_bulk_write_refused_half_way_is_rolled_back_and_nothing_happens_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    known, new = inquiry_import(kintone, 145, 5)
    gstaff = gstaff_knowing_the_company()
    report = sweep_inquiries(settings, mappings, kintone, redis_conn)
    edited = known[130]  # in the bulkRequest's second PUT records.json
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(inquiry_env(redis_url, server, gserver), "worker-a"))
        assert held.reached.wait(60)
        kintone.update_record(INQUIRIES, edited, {"問い合わせ内容": {"value": "5名に増員をお願いしたい"}})
        held.release()  # kintone refuses request 2: the first 100 write-backs are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "the page job to finish")
        wait_until(lambda: queued(redis_conn, settings) == 0 and kintone.calls[("update_record", INQUIRIES)] == 2,
                   RECOVERY_BOUND, "the edited inquiry's own job")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    linked_once(kintone, gstaff, [r for r in known if r != edited], new)
    record = kintone.record_values(INQUIRIES, edited)
    assert (record["Gスタッフ顧客ID"], record["$revision"]) == ("G-2001", "3")  # the edit, then its own job's write
    assert len(kintone.comment_texts(INQUIRIES, edited)) == 1
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_wrote_the_lookup_page_does_not_write_or_say_it_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    known, new = inquiry_import(kintone, 145, 5)
    gstaff = gstaff_knowing_the_company()
    report = sweep_inquiries(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff) as gserver:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(inquiry_env(redis_url, server, gserver), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")

    linked_once(kintone, gstaff, known, new)
    assert failed_jobs(redis_conn, settings) == []


# -- the routing of a bulk import of inquiries (flows/inquiry_routing.run_page) ----------------------


def sweep_routing(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    """The routing's page jobs only: the lookup of the same inquiries has its own faults above."""
    [report] = reconcile.sweep(settings=settings, mappings=without_flow(mappings, "client_lookup"), kintone=fake,
                               connection=redis_conn, app_key="inquiries")
    assert report.page_jobs, "the import should have gone to page jobs"
    return report


def routing_env(redis_url, server, gserver):
    """Routing reads the 顧客管理台帳 (the reps' clients, the clients' risk) and G-Staff (their staff)."""
    return worker_env(redis_url, server.url, {"inquiries": API_TOKENS["inquiries"], "clients": API_TOKENS["clients"]},
                      **gstaff_settings(gserver))


def routed_once(fake, ids: list[str], pages: int) -> None:
    for rid in ids:
        record = fake.record_values(INQUIRIES, rid)
        assert (record["担当部署"], record["$revision"]) == ("東京営業部", "2"), rid  # one write, no more
    notices = [c for rid in ids for c in fake.apps[INQUIRIES].comments[rid]]
    assert len(notices) == pages  # one notice per page to the manager, not one per inquiry, never twice
    assert all([m.code for m in c.mentions] == ["tanaka"] and "まとめて登録されました" in c.text for c in notices)


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone wrote the first page back, before its answer", "worker"),
    ("after kintone wrote the first page back, before its answer", "work horse"),
    ("after the page's notice, before its bulk write", "worker"),
])
def test_a_worker_killed_around_a_routing_pages_bulk_write_ends_with_each_effect_once(
        case, dies, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = [seed_inquiry(kintone, company=f"株式会社あおば物流{i}号", assigned=False) for i in range(600)]  # 500 + 100
    report = sweep_routing(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff_knowing_the_company()) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=case.startswith("after kintone wrote"))
        env = routing_env(redis_url, server, gserver)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), "the page job never reached its bulk write"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    routed_once(kintone, ids, pages=2)
    assert kintone.calls[("update_record", INQUIRIES)] == 0  # nobody fell back to one write per inquiry
    assert failed_jobs(redis_conn, settings) == []


def test_a_routing_pages_bulk_write_refused_half_way_sends_the_edited_inquiry_to_its_own_job(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = [seed_inquiry(kintone, company=f"株式会社あおば物流{i}号", assigned=False) for i in range(150)]
    report = sweep_routing(settings, mappings, kintone, redis_conn)
    edited = ids[130]  # in the bulkRequest's second PUT records.json
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff_knowing_the_company()) as gserver:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(routing_env(redis_url, server, gserver), "worker-a"))
        assert held.reached.wait(60)
        kintone.update_record(INQUIRIES, edited, {"問い合わせ内容": {"value": "5名に増員をお願いしたい"}})
        held.release()  # kintone refuses request 2: the first 100 writes are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report), RECOVERY_BOUND, "the page job to finish")
        wait_until(lambda: queued(redis_conn, settings) == 0 and kintone.calls[("update_record", INQUIRIES)] == 2,
                   RECOVERY_BOUND, "the edited inquiry's own job")
        assert server.count("POST", "bulkRequest", status=409) == 1

    routed_once(kintone, [r for r in ids if r != edited], pages=1)
    record = kintone.record_values(INQUIRIES, edited)
    assert (record["担当部署"], record["$revision"]) == ("東京営業部", "3")  # the edit, then its own job's write
    assert kintone.comment_texts(INQUIRIES, edited) == []  # told in the page's notice, not again
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_wrote_the_routing_page_does_not_write_or_tell_it_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = [seed_inquiry(kintone, company=f"株式会社あおば物流{i}号", assigned=False) for i in range(150)]
    report = sweep_routing(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server, start_gstaff(gstaff_knowing_the_company()) as gserver:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(routing_env(redis_url, server, gserver), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report) and queued(redis_conn, settings) == 0,
                   RECOVERY_BOUND, "the page job (and any fallback) to finish")

    routed_once(kintone, ids, pages=1)
    assert failed_jobs(redis_conn, settings) == []
