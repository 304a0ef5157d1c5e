"""A worker killed with SIGKILL in the middle of a job: the job is found and finished exactly once.

Real ``python worker.py`` processes on the live kintone connector talk to the loopback kintone
(tests/kintone_server.py), which holds one request open so the kill lands at a known point:
before any effect, or after kintone did the work but before its answer got back (the hardest
case: the effect happened and the worker never learned it). For a contract, the worker also runs
the live GMO Sign client against the loopback GMO Sign (tests/gmosign_server.py), which can hold
the send after it created the envelope: whatever happens next, there is never a second envelope.

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

from connectors.gmosign.fake import FakeGmoSign
from kgbridge.jobs import job_id as flow_job_id
from tests.fault_kit import (
    CONTRACTS,
    MISSING_ITEMS,
    ORDERS,
    failed_jobs,
    flow_job,
    gmosign_settings,
    gstaff_settings,
    job_finished,
    post_webhook,
    seed_client,
    seed_contract,
    seed_order,
    start_gmosign,
    start_gstaff,
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
    # The GMO Sign send has cases of its own below (two loopback servers, and one ends stopped).
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


def _kill_midway(dies: str, held, workers: list, env: dict[str, str]) -> None:
    """Kill the first worker (or only its horse) while ``held``, release it, restart the worker."""
    horse = wait_until(lambda: work_horse(workers[0].pid), 5, "the work horse's pid")
    if dies == "worker":
        _kill_worker(workers[0], horse)
    else:
        _kill_horse(horse)
    held.release()  # the server answers a connection nobody listens on any more
    if dies == "worker":
        workers.append(start_worker(env, "worker-b"))  # the restart a supervisor would do


@pytest.mark.parametrize("dies", ["worker", "work horse"])
@pytest.mark.parametrize("case", KILL_CASES, ids=[c.name for c in KILL_CASES])
def test_a_job_killed_midway_is_found_and_finished_exactly_once(case, dies, kintone, mappings, app, redis_conn,
                                                                redis_url, settings, workers):
    rid = seed_order(kintone, seed_client(kintone), complete=case.complete_order)
    with start_kintone(kintone, mappings) as server:
        held = server.hold(case.method, case.resource, after_effect=case.after_effect)
        env = worker_env(redis_url, server.url, {"orders": _token("orders"), "clients": _token("clients"),
                                                     "visits": _token("visits")})
        workers.append(start_worker(env, "worker-a"))

        response = post_webhook(app.test_client(), webhook_body(kintone, rid))
        assert response.status_code == 200
        job_id = f"order_registration-orders-{rid}-r1"

        assert held.reached.wait(20), f"the job never reached {case.method} {case.resource}"
        _kill_midway(dies, held, workers, env)

        wait_until(lambda: job_finished(redis_conn, job_id), RECOVERY_BOUND,
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


# -- the GMO Sign send (contract_issuance, issue 4) --------------------------------------------------
#
# The live GMO Sign client has no envelope search (reference/gmosign.md §1.2), so when a worker
# dies inside the send nobody can learn whether the envelope exists: the documented end is a
# stop for a person, never a second send (flows/contract_issuance.py). The rerun of the killed
# job recognises its own claim and stops at once, without waiting for the claim to go stale.


def _contract_job(kintone, rid: str) -> str:
    revision = kintone.get_record(CONTRACTS, rid)["$revision"]["value"]
    return flow_job_id("contract_issuance", "contracts", rid, f"r{revision}")


@pytest.fixture
def contract_rig(kintone, mappings, app, redis_url, workers):
    """Run one contract send against the loopback kintone and GMO Sign until ``hold`` catches it."""
    gmosign = FakeGmoSign()
    rid = seed_contract(kintone, seed_client(kintone))
    with start_kintone(kintone, mappings) as kserver, start_gmosign(gmosign) as gserver, \
            start_gstaff() as staff_server:
        env = worker_env(kintone_url=kserver.url, tokens={"contracts": _token("contracts")},
                         redis_url=redis_url, **gmosign_settings(gserver), **gstaff_settings(staff_server))

        def send_and_kill(hold: Callable, dies: str) -> str:
            held = hold(kserver, gserver)
            workers.append(start_worker(env, "worker-a"))
            job_id = _contract_job(kintone, rid)
            body = webhook_body(kintone, rid, event_type="UPDATE_STATUS", app=CONTRACTS)
            assert post_webhook(app.test_client(), body).status_code == 200
            assert held.reached.wait(20), "the contract job never reached the held request"
            _kill_midway(dies, held, workers, env)
            return job_id

        yield rid, gmosign, gserver, send_and_kill


def _one_send(gmosign, gserver, rid: str):
    [envelope] = gmosign.envelopes.values()  # exactly one envelope, ever
    assert envelope.document_code == f"kintone-contracts-{rid}"
    assert gserver.count("send") == 1  # and only one send request reached GMO Sign
    return envelope


@pytest.mark.parametrize("dies", ["worker", "work horse"])
def test_a_worker_killed_after_gmo_sign_created_the_envelope_stops_for_marketing_and_never_sends_again(
        dies, contract_rig, kintone, app, redis_conn, settings):
    rid, gmosign, gserver, send_and_kill = contract_rig
    job_id = send_and_kill(lambda k, g: g.hold("send", after_effect=True), dies)

    wait_until(lambda: flow_job(redis_conn, job_id).get_status() == JobStatus.FAILED, RECOVERY_BOUND,
               "the killed send to stop for an operator")

    envelope = _one_send(gmosign, gserver, rid)
    reference = f"kintone-contracts-{rid}"
    job = flow_job(redis_conn, job_id)
    assert failed_jobs(redis_conn, settings) == [job_id]
    assert "IssuanceNeedsOperator" in job.meta["reason"] and reference in job.meta["reason"]
    values = kintone.record_values(CONTRACTS, rid)
    assert values["ステータス"] == "発報処理中" and values["GMOサイン文書ID"] == ""
    [text] = kintone.comment_texts(CONTRACTS, rid)  # marketing is told once what to look for
    assert f"管理番号「{reference}」" in text and "自動での再送信は行いません" in text
    if dies == "worker":
        assert any("AbandonedJobError" in a["error"] and a["transient"] for a in job.meta["attempts"])

    # Marketing finds the envelope in GMO Sign and enters its id: the contract goes on to 署名依頼中.
    kintone.update_record(CONTRACTS, rid, {"GMOサイン文書ID": {"value": envelope.envelope_id}})
    next_job = _contract_job(kintone, rid)
    body = webhook_body(kintone, rid, event_type="UPDATE_RECORD", app=CONTRACTS)
    assert post_webhook(app.test_client(), body).status_code == 200
    wait_until(lambda: job_finished(redis_conn, next_job), RECOVERY_BOUND,
               "the contract to go on once its envelope id was entered")
    assert kintone.record_values(CONTRACTS, rid)["ステータス"] == "署名依頼中"
    _one_send(gmosign, gserver, rid)


@pytest.mark.parametrize("dies", ["worker", "work horse"])
def test_a_worker_killed_after_the_envelope_id_was_written_back_finishes_to_signing_with_one_envelope(
        dies, contract_rig, kintone, redis_conn, settings):
    rid, gmosign, gserver, send_and_kill = contract_rig
    # kintone saved GMOサイン文書ID; its answer (and so the 署名依頼 action after it) never came.
    job_id = send_and_kill(lambda k, g: k.hold("PUT", "record", after_effect=True), dies)

    wait_until(lambda: job_finished(redis_conn, job_id), RECOVERY_BOUND,
               "the killed job to be found and finished")

    envelope = _one_send(gmosign, gserver, rid)
    values = kintone.record_values(CONTRACTS, rid)
    assert values["ステータス"] == "署名依頼中" and values["GMOサイン文書ID"] == envelope.envelope_id
    assert kintone.calls[("update_record", CONTRACTS)] == 1  # written back once
    assert kintone.calls[("update_status", CONTRACTS)] == 1  # 署名依頼 ran once
    [text] = kintone.comment_texts(CONTRACTS, rid)
    assert envelope.envelope_id in text
    assert failed_jobs(redis_conn, settings) == []
