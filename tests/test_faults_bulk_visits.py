"""Faults in visits reported per page (issue 17, flows/visit_report.run_page) and in next follow-ups
planned per page (flows/next_follow_up.run_page): a worker killed around the bulk write of a page (the
visits' 顧客管理台帳 records; the follow-ups marked 完了) or between the follow-ups' bulk adds and that
write, a bulk write kintone refused half-way (rolled back whole), a 5xx after kintone wrote it. Each
effect happens once: every 上長 told of each report once, every client's 最終訪問日 and 訪問記録要約
written once, the held orders of a visited client sent for approval once; every done follow-up's next
follow-up added once, the follow-up marked 完了 with it as 引継ぎ先, its 担当者 told once.

Real ``python worker.py`` processes on the live kintone client talk to the loopback kintone
(tests/kintone_server.py), which holds the bulkRequest open so the kill lands at a known point. The
page jobs are what a reconcile sweep enqueues for visits whose webhooks were lost.
"""

from __future__ import annotations

import pytest
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from kgbridge.jobs import job_id
from kgbridge.ops import reconcile
from kgbridge.samples import COMPLETED_VISIT
from tests.fault_kit import (
    CLIENTS,
    ORDERS,
    REP,
    failed_jobs,
    finished_jobs,
    queued,
    seed_order,
    start_kintone,
)
from tests.kintone_server import unavailable
from tests.pii import API_TOKENS, COMPANY_NAME, PERSON_NAME, PERSON_PHONE
from tests.procs import start_worker, stop_process, wait_until, worker_env
from tests.records import VISITS_APP, seed
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


def visited_clients(fake, n: int) -> tuple[list[str], list[str], list[str]]:
    """n clients visited once each (a visit entered in bulk: no webhook), the report naming the contact
    person; the first client has 3 orders held in 未処理 for the visit. (clients, visits, held orders)"""
    clients = [fake.seed(CLIENTS, {"会社名": f"{COMPANY_NAME}{i}号", "与信状態": "承認", "担当営業": REP})
               for i in range(n)]
    report = f"{COMPLETED_VISIT['訪問記録']} 窓口は{PERSON_NAME}様（{PERSON_PHONE}）。"
    visits = [fake.seed(VISITS_APP, {**COMPLETED_VISIT, "顧客": f"{COMPANY_NAME}{i}号", "顧客レコード番号": c,
                                     "訪問記録": report}) for i, c in enumerate(clients)]
    return clients, visits, [seed_order(fake, clients[0]) for _ in range(3)]


def sweep(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=fake, connection=redis_conn,
                               app_key="visits")
    assert report.page_jobs, "the visits should have gone to page jobs"
    return report


def all_done(redis_conn, settings, report, visits: list[str], held: list[str], *fallback: str) -> bool:
    """The page jobs finished, and so did the jobs they started: the held orders' (the first visit's
    marker) and the ``fallback`` visits' own jobs; nothing queued or running besides."""
    running = StartedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).count
    jobs = {*report.page_jobs, *(job_id("order_registration", "orders", o, f"visit-{visits[0]}") for o in held),
            *(job_id("visit_report", "visits", v, "r1") for v in fallback)}
    return (queued(redis_conn, settings) == 0 and running == 0
            and jobs <= set(finished_jobs(redis_conn, settings)))


def env_for(redis_url, server):
    """The visits, their clients, and the held orders a complete visit sends on."""
    return worker_env(redis_url, server.url, {"visits": API_TOKENS["visits"], "clients": API_TOKENS["clients"],
                                              "orders": API_TOKENS["orders"]})


def reported_once(fake, clients: list[str], visits: list[str], held: list[str], *, revision: str = "2") -> None:
    for client, visit in zip(clients, visits, strict=True):
        [comment] = fake.apps[VISITS_APP].comments[visit]  # the 上長's report, once
        assert [m.code for m in comment.mentions] == ["tanaka"] and "【訪問記録】" in comment.text
        record = fake.record_values(CLIENTS, client)
        assert record["最終訪問日"] == "2026-11-20" and f"#{visit}）" in record["訪問記録要約"]
        assert record["$revision"] == revision, client  # one write, no more
    for order in held:
        assert fake.record_values(ORDERS, order)["ステータス"] == WAITING
        assert fake.record_values(ORDERS, order)["$revision"] == "3"  # one action (+2), no more


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone wrote the first page's clients, before its answer", "worker"),
    ("after kintone wrote the first page's clients, before its answer", "work horse"),
    ("after the page's comments, before its bulk write", "worker"),
])
def test_a_worker_killed_around_a_visit_pages_bulk_write_ends_with_each_effect_once(
        case, dies, kintone, mappings, settings, redis_conn, redis_url, workers):
    clients, visits, held = visited_clients(kintone, 600)  # two pages: 500 (a bulkRequest) + 100 (one PUT)
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server:
        held_call = server.hold("POST", "bulkRequest", after_effect=case.startswith("after kintone wrote"))
        env = env_for(redis_url, server)
        workers.append(start_worker(env, "worker-a"))
        assert held_call.reached.wait(60), "the page job never reached its bulk write"
        _kill_midway(dies, held_call, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report, visits, held), RECOVERY_BOUND,
                   "both page jobs (and the held orders') to finish")

    reported_once(kintone, clients, visits, held)
    assert kintone.calls[("update_record", CLIENTS)] == 0  # nobody fell back to one write per client
    assert failed_jobs(redis_conn, settings) == []


def test_a_visit_pages_bulk_write_refused_half_way_sends_the_edited_clients_visit_to_its_own_job(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    clients, visits, held = visited_clients(kintone, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    edited = clients[130]  # in the bulkRequest's second PUT records.json
    with start_kintone(kintone, mappings) as server:
        held_call = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        assert held_call.reached.wait(60)
        kintone.update_record(CLIENTS, edited, {"住所": {"value": "東京都江東区新木場1-1"}})
        held_call.release()  # kintone refuses request 2: the first 100 writes are rolled back with it
        wait_until(lambda: all_done(redis_conn, settings, report, visits, held, visits[130]), RECOVERY_BOUND,
                   "the page job, the held orders' and the edited client's visit's own job to finish")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    others = [i for i, c in enumerate(clients) if c != edited]
    reported_once(kintone, [clients[i] for i in others], [visits[i] for i in others], held)
    reported_once(kintone, [edited], [visits[130]], [], revision="3")  # the edit, then its visit's own job
    assert kintone.record_values(CLIENTS, edited)["住所"] == "東京都江東区新木場1-1"
    assert kintone.calls[("update_record", CLIENTS)] == 2  # the person's edit, then the visit's own job
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_wrote_the_visit_page_does_not_write_or_tell_it_twice(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    clients, visits, held = visited_clients(kintone, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report, visits, held), RECOVERY_BOUND,
                   "the page job (and the held orders') to finish")
        assert server.count("POST", "bulkRequest", status=503) >= 1

    reported_once(kintone, clients, visits, held)
    assert failed_jobs(redis_conn, settings) == []


# -- next follow-ups planned per page (flows/next_follow_up.run_page) ---------------------------------

FOLLOW_UPS = "7"


def done_follow_ups(fake, mappings, n: int) -> list[str]:
    """n staff follow-ups saved as done with their 次回フォロー日 (a day of lost webhooks), one staff member
    each; the facts name the staff member and a phone number."""
    return [seed(fake, mappings, "follow_ups", schedule_key=f"{100 + i}:month_1", title="1ヶ月フォロー",
                 category="スタッフフォロー", contract_record_id=str(100 + i), staff_id=f"S-{i:04d}",
                 staff_name=PERSON_NAME, client=f"{COMPANY_NAME}{i}号", due_on="2026-11-24", done_on="2026-11-24",
                 next_follow_up="2026-12-08", facts=f"勤務は順調。連絡先 {PERSON_PHONE}。",
                 owner=[{"code": "sato", "name": "佐藤 一郎"}])
            for i in range(n)]


def sweep_follow_ups(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=fake, connection=redis_conn,
                               app_key="follow_ups")
    assert report.page_jobs, "the follow-ups should have gone to page jobs"
    return report


def follow_ups_done(redis_conn, settings, report, *fallback: str) -> bool:
    running = StartedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).count
    jobs = {*report.page_jobs, *(job_id("next_follow_up", "follow_ups", r, "r1") for r in fallback)}
    return (queued(redis_conn, settings) == 0 and running == 0
            and jobs <= set(finished_jobs(redis_conn, settings)))


def follow_up_env(redis_url, server):
    return worker_env(redis_url, server.url, {"follow_ups": API_TOKENS["follow_ups"]})


def planned_once(fake, ids: list[str]) -> None:
    """Each follow-up has one next follow-up (linked by its 前回フォロー, on the agreed day), is marked
    完了 with it as 引継ぎ先, and its 担当者 was told once."""
    records = {rid: fake.record_values(FOLLOW_UPS, rid) for rid in fake.apps[FOLLOW_UPS].records}
    assert len(records) == 2 * len(ids)  # one new follow-up each, no more
    after = {r["前回フォロー"]: rid for rid, r in records.items() if r["前回フォロー"]}
    for rid in ids:
        new = after[rid]
        assert records[new]["予定日"] == "2026-12-08" and records[new]["管理キー"].endswith(":next_2026-12-08")
        assert (records[rid]["完了判定"], records[rid]["引継ぎ先"]) == ("完了", new)
        [comment] = fake.apps[FOLLOW_UPS].comments[rid]
        assert [m.code for m in comment.mentions] == ["sato"] and f"レコード #{new}" in comment.text


@pytest.mark.parametrize(("case", "dies", "resource"), [
    ("after kintone wrote the first page's marks, before its answer", "worker", "bulkRequest"),
    ("after kintone wrote the first page's marks, before its answer", "work horse", "bulkRequest"),
    ("after the first page's adds, before its bulk write", "worker", "bulkRequest"),
    ("after kintone added the first 100 next follow-ups, before its answer", "worker", "records"),
])
def test_a_worker_killed_around_a_follow_up_pages_bulk_calls_ends_with_each_effect_once(
        case, dies, resource, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = done_follow_ups(kintone, mappings, 600)  # two pages: 500 (5 adds, a bulkRequest) + 100 (1 add, 1 PUT)
    report = sweep_follow_ups(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    with start_kintone(kintone, mappings) as server:
        held = server.hold("POST", resource, after_effect=case.startswith("after kintone"))
        env = follow_up_env(redis_url, server)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), f"the page job never reached POST {resource}"
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: follow_ups_done(redis_conn, settings, report), RECOVERY_BOUND, "both page jobs to finish")

    planned_once(kintone, ids)
    assert kintone.calls[("add_record", FOLLOW_UPS)] == kintone.calls[("update_record", FOLLOW_UPS)] == 0
    assert failed_jobs(redis_conn, settings) == []


def test_a_follow_up_pages_bulk_write_refused_half_way_sends_the_edited_follow_up_to_its_own_job(
        kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = done_follow_ups(kintone, mappings, 150)
    report = sweep_follow_ups(settings, mappings, kintone, redis_conn)
    edited = ids[130]  # in the bulkRequest's second PUT records.json
    with start_kintone(kintone, mappings) as server:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(follow_up_env(redis_url, server), "worker-a"))
        assert held.reached.wait(60)
        kintone.update_record(FOLLOW_UPS, edited, {"確認した事実": {"value": "勤務は順調。面談で残業の相談あり。"}})
        held.release()  # kintone refuses request 2: the first 100 marks are rolled back with it
        wait_until(lambda: follow_ups_done(redis_conn, settings, report, edited), RECOVERY_BOUND,
                   "the page job and the edited follow-up's own job to finish")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    planned_once(kintone, ids)  # the edited one's own job found the follow-up the page had added
    assert kintone.record_values(FOLLOW_UPS, edited)["確認した事実"] == "勤務は順調。面談で残業の相談あり。"
    assert kintone.calls[("add_record", FOLLOW_UPS)] == 0
    assert failed_jobs(redis_conn, settings) == []


@pytest.mark.parametrize("resource", ["bulkRequest", "records"])
def test_a_5xx_after_kintone_wrote_or_added_the_follow_up_page_does_nothing_twice(
        resource, kintone, mappings, settings, redis_conn, redis_url, workers):
    ids = done_follow_ups(kintone, mappings, 150)
    report = sweep_follow_ups(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(unavailable(), method="POST", resource=resource, after_effect=True)
        workers.append(start_worker(follow_up_env(redis_url, server), "worker-a"))
        wait_until(lambda: follow_ups_done(redis_conn, settings, report), RECOVERY_BOUND,
                   "the page job to finish")
        assert server.count("POST", resource, status=503) == 1

    planned_once(kintone, ids)
    assert failed_jobs(redis_conn, settings) == []
