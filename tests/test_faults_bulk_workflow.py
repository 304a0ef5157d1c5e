"""Faults in 稟議 applications decided per page (issue 17, ``flows.workflow.run_page``): a worker killed
between the bulk calls of a backlog, or around one; a bulk call kintone refused half-way (rolled back
whole) or answered with a 5xx after it was done. Each effect happens once: every incomplete application
sent back once with one comment to its applicant, every 06_2 the 上長 approved 決裁 once, its client
取引可 by one update and its applicant told once (the kind's effects, by the application's own job).

Real ``python worker.py`` processes on the live kintone client talk to the loopback kintone
(tests/kintone_server.py), which holds a bulkRequest open so the kill lands at a known point. The
page jobs are what a reconcile sweep enqueues for a backlog whose notifications were lost.
"""

from __future__ import annotations

import pytest
from rq.registry import StartedJobRegistry
from rq.serializers import JSONSerializer

from connectors.kintone import KintoneConnectionError
from kgbridge.ops import reconcile
from tests.fault_kit import (
    CLIENTS,
    REP,
    SUPERVISOR,
    failed_jobs,
    finished_jobs,
    queued,
    seed_client,
    tokens_by_app_id,
)
from tests.kintone_server import KintoneServer, unavailable
from tests.people import CHECKED
from tests.pii import API_TOKENS, COMPANY_NAME
from tests.procs import start_worker, stop_process, wait_until, worker_env
from tests.test_faults_worker_kill import _kill_midway

pytestmark = pytest.mark.timeout(300)

RECOVERY_BOUND = 120.0  # generous: a loaded CI machine; the wait ends as soon as the work is done
WORKFLOW = "4"
WORKFLOW_API_TOKEN = "workflowApiTokenForLoopbackKintone006"
MISSING = "信用調査機関の評価"
DECIDE_EVERY = 10  # one 06_2 the 上長 approved among every ten applications, the rest incomplete 06_1s


@pytest.fixture
def workers():
    started = []
    yield started
    for proc in started:
        stop_process(proc)


def backlog(fake, n: int) -> tuple[list[str], list[str]]:
    """(incomplete 06_1s just submitted, 06_2s the 上長 approved, each of its own approved client)."""
    incomplete, approved = [], []
    reviewing = seed_client(fake, credit="審査中")
    for i in range(n):
        common = {"顧客": COMPANY_NAME, "申請者": REP, "上長": SUPERVISOR, "申請日": "2026-11-27"}
        if i % DECIDE_EVERY == 0:
            approved.append(fake.seed(WORKFLOW, {**common, "申請種別": "06_2 取引開始・契約書類締結", "件名": f"06_2 #{i}",
                                                 "顧客レコード番号": seed_client(fake), "定形外契約書": "無"},
                                      status="上長承認済"))
        else:
            values = {k: v for k, v in CHECKED.items() if k != MISSING}
            incomplete.append(fake.seed(WORKFLOW, {**common, **values, "申請種別": "06_1 反社・与信チェック",
                                                   "件名": f"06_1 #{i}", "顧客レコード番号": reviewing},
                                        status="申請中"))
    return incomplete, approved


def start_kintone(fake, mappings) -> KintoneServer:
    return KintoneServer(fake, tokens={**tokens_by_app_id(mappings), WORKFLOW: WORKFLOW_API_TOKEN}).start()


def env_for(redis_url, server):
    return worker_env(redis_url, server.url, {"workflow": WORKFLOW_API_TOKEN, "clients": API_TOKENS["clients"]})


def sweep(settings, mappings, fake, redis_conn) -> reconcile.AppSweep:
    [report] = reconcile.sweep(settings=settings, mappings=mappings, kintone=fake, connection=redis_conn,
                               app_key="workflow")
    assert report.page_jobs, "the backlog should have gone to page jobs"
    return report


def all_done(redis_conn, settings, report, fake, approved: list[str]) -> bool:
    """The page jobs finished, the jobs they started (fallbacks: a 決裁's effects) too, and every
    approved application's client is 取引可. The last condition closes a race the queue alone leaves
    open: a worker that has just taken the last fallback job off the queue has not yet put it in the
    started registry (seen once in CI: the last 06_2's client not yet updated when the test looked)."""
    started = StartedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer)
    return (queued(redis_conn, settings) == 0 and started.count == 0
            and set(report.page_jobs) <= set(finished_jobs(redis_conn, settings))
            and all(fake.record_values(CLIENTS, fake.record_values(WORKFLOW, rid)["顧客レコード番号"])["取引状態"]
                    == "取引可" for rid in approved))


def sent_back_once(fake, ids: list[str]) -> None:
    for rid in ids:
        record = fake.record_values(WORKFLOW, rid)
        assert (record["ステータス"], record["$revision"]) == ("作成中", "3"), rid  # one action (+2), no more
        [text] = fake.comment_texts(WORKFLOW, rid)
        assert "【未入力の項目】\n・信用調査機関の評価（評点）" in text


def approved_once(fake, ids: list[str], revision: str = "3") -> None:
    for rid in ids:
        record = fake.record_values(WORKFLOW, rid)
        assert (record["ステータス"], record["$revision"]) == ("承認", revision), rid
        client = fake.record_values(CLIENTS, record["顧客レコード番号"])
        assert (client["取引状態"], client["$revision"]) == ("取引可", "2"), rid  # one update of the client
        [text] = fake.comment_texts(WORKFLOW, rid)
        assert "取引開始が承認されました" in text


KILL_POINTS = {  # where the worker dies: (the request held, kintone did its work before the kill)
    "after kintone ran the first page's bulk actions, before its answer": ("POST", "bulkRequest", True),
    "after the first page's comments, before its bulk call took effect": ("POST", "bulkRequest", False),
    "after kintone posted the first comment, before its answer": ("POST", "record/comment", True),
    # the 決裁's effects run in the page job after its bulk call: the first 06_2's client updated
    "after kintone updated the first approved client, before its answer": ("PUT", "record", True),
}


@pytest.mark.parametrize(("case", "dies"), [
    ("after kintone ran the first page's bulk actions, before its answer", "worker"),
    ("after kintone ran the first page's bulk actions, before its answer", "work horse"),
    ("after the first page's comments, before its bulk call took effect", "worker"),
    ("after kintone posted the first comment, before its answer", "worker"),
    ("after kintone updated the first approved client, before its answer", "worker"),
    ("after kintone updated the first approved client, before its answer", "work horse"),
])
def test_a_worker_killed_around_a_bulk_call_ends_with_each_effect_once(case, dies, kintone, mappings, settings,
                                                                      redis_conn, redis_url, workers):
    incomplete, approved = backlog(kintone, 600)  # two pages: 500 (a bulkRequest) + 100 (one PUT)
    report = sweep(settings, mappings, kintone, redis_conn)
    assert len(report.page_jobs) == 2
    method, resource, landed = KILL_POINTS[case]
    with start_kintone(kintone, mappings) as server:
        held = server.hold(method, resource, after_effect=landed)
        env = env_for(redis_url, server)
        workers.append(start_worker(env, "worker-a"))
        assert held.reached.wait(60), f"the page job never reached {method} {resource}"
        if resource == "bulkRequest" and not landed:  # the call dies with the worker: kintone never runs it
            kintone.fail_next("bulk_request", KintoneConnectionError("connection reset by peer"))
        _kill_midway(dies, held, workers, env)
        wait_until(lambda: all_done(redis_conn, settings, report, kintone, approved), RECOVERY_BOUND,
                   "both page jobs and the approvals' effects to finish")
        if resource == "bulkRequest":
            # the first page's actions ran once: the call that landed (its retry found every application
            # moved on and sent none), or the retry's after the one that never ran
            assert server.count("POST", "bulkRequest", status=200) == 1

    sent_back_once(kintone, incomplete)
    approved_once(kintone, approved)
    assert kintone.calls[("update_status", WORKFLOW)] == 0  # nobody fell back to one action per application
    assert failed_jobs(redis_conn, settings) == []


def test_a_bulk_call_refused_half_way_is_rolled_back_and_nothing_happens_twice(kintone, mappings, settings,
                                                                               redis_conn, redis_url, workers):
    incomplete, approved = backlog(kintone, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    edited = approved[13]  # the 131st application: in the bulkRequest's second PUT records/status.json
    with start_kintone(kintone, mappings) as server:
        held = server.hold("POST", "bulkRequest", after_effect=False)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        assert held.reached.wait(60)
        kintone.update_record(WORKFLOW, edited, {"遅延理由": {"value": "先方の決算期のため"}})
        held.release()  # kintone refuses request 2: the first 100 actions are rolled back with it
        wait_until(lambda: (all_done(redis_conn, settings, report, kintone, approved)
                            and kintone.calls[("update_status", WORKFLOW)] == 1), RECOVERY_BOUND, "the page job and the edited application's own job")
        assert server.count("POST", "bulkRequest", status=409) == 1
        assert server.count("POST", "bulkRequest", status=200) == 1

    sent_back_once(kintone, incomplete)
    approved_once(kintone, [r for r in approved if r != edited])
    approved_once(kintone, [edited], revision="4")  # the applicant's edit, then its own job's 決裁
    assert failed_jobs(redis_conn, settings) == []


def test_a_5xx_after_kintone_ran_the_bulk_call_does_not_run_it_twice(kintone, mappings, settings, redis_conn,
                                                                     redis_url, workers):
    incomplete, approved = backlog(kintone, 150)
    report = sweep(settings, mappings, kintone, redis_conn)
    with start_kintone(kintone, mappings) as server:
        server.fail(unavailable(), method="POST", resource="bulkRequest", after_effect=True)
        workers.append(start_worker(env_for(redis_url, server), "worker-a"))
        wait_until(lambda: all_done(redis_conn, settings, report, kintone, approved), RECOVERY_BOUND,
                   "the page job (and any fallback) to finish")

    sent_back_once(kintone, incomplete)
    approved_once(kintone, approved)
    assert failed_jobs(redis_conn, settings) == []
