"""A worker killed with SIGKILL in the middle of a job: the job is found and finished exactly once.

Real ``python worker.py`` processes on the live kintone connector talk to the loopback kintone
(tests/kintone_server.py), which holds one request open so the kill lands at a known point:
before any effect, or after kintone did the work but before its answer got back (the hardest
case: the effect happened and the worker never learned it).

Two ways to die:
- ``worker``: the worker's whole process group gets SIGKILL (a container or VM lost, systemd's
  kill -9). Nobody tells RQ; the job is found when its heartbeat lapses
  (KGBRIDGE_WORKER_DEAD_AFTER_SECONDS, 3 s here) at the next maintenance pass of a worker
  (KGBRIDGE_WORKER_MAINTENANCE_SECONDS, 1 s here) — the restarted worker's.
- ``work horse``: only the process running the job dies (the OOM killer's choice); its worker
  sees it at once and retries the job.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rq.job import JobStatus

from tests.fault_kit import (
    MISSING_ITEMS,
    ORDERS,
    failed_jobs,
    flow_job,
    post_webhook,
    seed_client,
    seed_order,
    start_kintone,
    webhook_body,
)
from tests.procs import alive, start_worker, stop_process, wait_until, work_horse, worker_env
from webhooks import create_app

pytestmark = pytest.mark.timeout(90)

RECOVERY_BOUND = 30.0  # seconds from the kill to the job finished (3 s lapse + 1 s maintenance + start-up)


@dataclass(frozen=True)
class KillCase:
    """Where the job is when the worker dies, and what must hold afterwards."""

    name: str
    complete_order: bool
    method: str
    resource: str
    after_effect: bool
    check: Callable  # (fake, record_id) -> None; asserts each effect happened once


def _sent_for_approval_once(fake, rid):
    values = fake.record_values(ORDERS, rid)
    assert values["ステータス"] == "上長承認待ち"
    assert [u["code"] for u in values["作業者"]] == ["suzuki"]
    assert fake.calls[("update_status", ORDERS)] == 1  # the action ran once
    assert fake.comment_texts(ORDERS, rid) == []


def _told_rep_once(fake, rid):
    [text] = fake.comment_texts(ORDERS, rid)  # one comment, not two
    assert all(f"・{item}" in text for item in MISSING_ITEMS)
    assert fake.record_values(ORDERS, rid)["ステータス"] == "未処理"


KILL_CASES = [
    KillCase("while reading the order, before any effect", True, "GET", "record", False,
             _sent_for_approval_once),
    KillCase("after kintone ran 上長承認依頼, before its answer came back", True, "PUT", "record/status", True,
             _sent_for_approval_once),
    KillCase("after kintone posted the missing-items comment, before its answer came back", False, "POST",
             "record/comment", True, _told_rep_once),
    # --- GMO Sign send (issue 4): add its KillCase here -------------------------------------------
    # Hold the loopback GMO Sign server's "create/send document" request *after* it created the
    # envelope; check: exactly one envelope exists for the contract, and the record carries its id.
]


@pytest.fixture
def app(settings, redis_conn, ctx):
    return create_app(settings, connection=redis_conn)


@pytest.fixture
def workers():
    started = []
    yield started
    for proc in started:
        stop_process(proc)


def _kill_worker(proc, horse: int) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
    # The horse sits in a process group of its own; it must die with its worker (worker.py).
    wait_until(lambda: not alive(horse), 10, "the work horse to die with its worker")


def _kill_horse(horse: int) -> None:
    os.kill(horse, signal.SIGKILL)


@pytest.mark.parametrize("dies", ["worker", "work horse"])
@pytest.mark.parametrize("case", KILL_CASES, ids=[c.name for c in KILL_CASES])
def test_a_job_killed_midway_is_found_and_finished_exactly_once(case, dies, kintone, mappings, app, redis_conn,
                                                                redis_url, settings, workers):
    rid = seed_order(kintone, seed_client(kintone), complete=case.complete_order)
    with start_kintone(kintone, mappings) as server:
        held = server.hold(case.method, case.resource, after_effect=case.after_effect)
        env = worker_env(redis_url, server.url, {"orders": _token("orders"), "clients": _token("clients")})
        workers.append(start_worker(env, "worker-a"))

        response = post_webhook(app.test_client(), webhook_body(kintone, rid))
        assert response.status_code == 200
        job_id = f"order_registration-orders-{rid}-r1"

        assert held.reached.wait(20), f"the job never reached {case.method} {case.resource}"
        horse = wait_until(lambda: work_horse(workers[0].pid), 5, "the work horse's pid")
        if dies == "worker":
            _kill_worker(workers[0], horse)
        else:
            _kill_horse(horse)
        held.release()  # kintone answers a connection nobody listens on any more
        if dies == "worker":
            workers.append(start_worker(env, "worker-b"))  # the restart a supervisor would do

        wait_until(lambda: flow_job(redis_conn, job_id).get_status() == JobStatus.FINISHED, RECOVERY_BOUND,
                   "the killed job to be found and finished")

    case.check(kintone, rid)
    job = flow_job(redis_conn, job_id)
    assert failed_jobs(redis_conn, settings) == []
    if dies == "worker":
        # Found as abandoned by the heartbeat lapse, and retried (not sent to the failed registry).
        assert any("AbandonedJobError" in a["error"] and a["transient"] for a in job.meta["attempts"])


def _token(key: str) -> str:
    from tests.pii import API_TOKENS

    return API_TOKENS[key]
