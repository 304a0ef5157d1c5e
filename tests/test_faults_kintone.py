"""kintone misbehaving for a while: 429, 503 (JSON and the HTML maintenance page, with and without
Retry-After), a 5xx after the save, and permanent 4xx answers.

The real ``LiveKintoneClient`` talks to the loopback kintone (tests/kintone_server.py); jobs run on a
real RQ worker. The client's waits are recorded instead of slept (its ``sleep`` seam), so the tests
are fast and can check every wait honoured the server's Retry-After.

Transient trouble: the job completes afterwards, each effect once, within the retry budget (the
connector's attempts per call times RQ's retries). Permanent trouble: the job fails at once into
RQ's failed registry with the reason, after exactly one request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from connectors.kintone.live import LiveKintoneClient
from flows.context import FlowContext
from kgbridge import bootstrap
from kgbridge.ledger import Ledger
from tests.conftest import BUSINESS_HOURS, dispatch_inbox, work_queue
from tests.fault_kit import (
    MISSING_ITEMS,
    ORDERS,
    failed_jobs,
    flow_job,
    post_webhook,
    queued,
    seed_client,
    seed_order,
    start_kintone,
    tokens_by_app_id,
    webhook_body,
)
from tests.kintone_server import Answer, maintenance_page, no_permission, rate_limited, unavailable
from webhooks import create_app

pytestmark = pytest.mark.timeout(60)

ATTEMPTS_PER_CALL = 4  # the connector's tries of one call within a job run
JOB_RETRIES = 4  # RQ's retries of the job (intervals of 0 s here)
RETRY_BUDGET = ATTEMPTS_PER_CALL * (JOB_RETRIES + 1)  # kintone requests one failing call may cost at most


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@dataclass(frozen=True)
class Outage:
    name: str
    answer: Answer
    times: int  # this many requests in a row get the answer
    method: str | None = None
    resource: str | None = None
    after_effect: bool = False
    complete_order: bool = True


OUTAGES = [
    Outage("429 without Retry-After", rate_limited(), 3),
    Outage("429 with Retry-After", rate_limited(retry_after=2), 3),
    Outage("503 JSON without Retry-After", unavailable(), 3),
    Outage("503 JSON with Retry-After", unavailable(retry_after=1), 3),
    # Longer than one job run's attempts: the job itself fails and RQ retries it.
    Outage("maintenance page for longer than one job run", maintenance_page(), ATTEMPTS_PER_CALL + 3),
    Outage("maintenance page with Retry-After", maintenance_page(retry_after=3), 2),
    Outage("429 on posting the comment", rate_limited(retry_after=1), 2, "POST", "record/comment",
           complete_order=False),
    # A POST that may have been saved is not repeated blindly: the re-run looks first.
    Outage("503 on posting the comment, not saved", unavailable(), 1, "POST", "record/comment",
           complete_order=False),
    Outage("503 on posting the comment after kintone saved it", maintenance_page(), 1, "POST", "record/comment",
           after_effect=True, complete_order=False),
    Outage("503 on the approval request after kintone ran it", unavailable(), 1, "PUT", "record/status",
           after_effect=True),
]


@pytest.fixture
def live(kintone, mappings, redis_conn, settings):
    """The loopback kintone, and the flows' context on the live client pointed at it."""
    sleeps = Sleeps()
    with start_kintone(kintone, mappings) as server:
        client = LiveKintoneClient(server.url, {a: [t] for a, t in tokens_by_app_id(mappings).items()},
                                   timeout=5, retry_budget=30, max_attempts=ATTEMPTS_PER_CALL, sleep=sleeps)
        bootstrap.set_context(FlowContext(kintone=client, mappings=mappings, ledger=Ledger(redis_conn),
                                          clock=lambda: BUSINESS_HOURS))  # comments post at once
        yield server, sleeps


@pytest.fixture
def job_settings(settings):
    return settings.model_copy(update={"retry_intervals": [0] * JOB_RETRIES})


@pytest.fixture
def receive(job_settings, redis_conn, kintone):
    client = create_app(job_settings, connection=redis_conn).test_client()

    def _receive(record_id: str) -> str:
        assert post_webhook(client, webhook_body(kintone, record_id)).status_code == 200
        return f"order_registration-orders-{record_id}-r1"

    return _receive


def run_jobs(job_settings, redis_conn) -> None:
    """The worker's part: dispatch what the receiver recorded into jobs, run them (real RQ worker)."""
    dispatch_inbox(redis_conn, job_settings, bootstrap.current_context().mappings)
    work_queue(redis_conn, job_settings)


@pytest.mark.parametrize("outage", OUTAGES, ids=[o.name for o in OUTAGES])
def test_jobs_complete_after_kintone_recovers_with_each_effect_once(outage, live, kintone, receive, job_settings,
                                                                   redis_conn):
    server, sleeps = live
    rid = seed_order(kintone, seed_client(kintone), complete=outage.complete_order)
    server.fail(outage.answer, times=outage.times, method=outage.method, resource=outage.resource,
                after_effect=outage.after_effect)

    job_id = receive(rid)
    run_jobs(job_settings, redis_conn)

    job = flow_job(redis_conn, job_id)
    assert job.get_status() == "finished"
    assert all(a["transient"] for a in job.meta["attempts"])  # only ever retried, never given up on
    if outage.times > ATTEMPTS_PER_CALL:
        assert job.meta["attempts"], "the outage outlasted one job run, so RQ must have retried the job"
    assert failed_jobs(redis_conn, job_settings) == [] and queued(redis_conn, job_settings) == 0
    if outage.complete_order:
        record = kintone.record_values(ORDERS, rid)
        assert record["ステータス"] == "上長承認待ち"
        assert record["$revision"] == "3"  # one action (+2), not two: a repeat is refused, not applied
    else:
        [text] = kintone.comment_texts(ORDERS, rid)
        assert all(f"・{item}" in text for item in MISSING_ITEMS)
    failing = server.count(status=outage.answer.status)
    assert failing == outage.times
    assert len(server.requests) <= failing + RETRY_BUDGET
    hint = outage.answer.headers.get("Retry-After")
    if hint is not None:
        assert sleeps and min(sleeps) >= float(hint)


@pytest.mark.parametrize(
    ("name", "answer", "method", "resource"),
    [
        ("no permission on reading the order", no_permission(), "GET", "record"),
        ("validation error on the approval request",
         Answer(400, b'{"code":"CB_VA01","id":"x1","message":"Missing or invalid input.","errors":{}}'),
         "PUT", "record/status"),
        ("token rejected", Answer(401, b'{"code":"CB_WA01","id":"x2","message":"Password authentication failed."}'),
         "GET", "record"),
    ],
)
def test_a_permanent_kintone_error_fails_the_job_at_once_with_the_reason(name, answer, method, resource, live,
                                                                          kintone, receive, job_settings,
                                                                          redis_conn):
    server, sleeps = live
    rid = seed_order(kintone, seed_client(kintone))
    server.fail(answer, times=None, method=method, resource=resource)

    job_id = receive(rid)
    run_jobs(job_settings, redis_conn)

    assert failed_jobs(redis_conn, job_settings) == [job_id]
    job = flow_job(redis_conn, job_id)
    code = json.loads(answer.body)["code"]
    assert f"[{answer.status}]" in job.meta["reason"] and code in job.meta["reason"]
    assert [a["transient"] for a in job.meta["attempts"]] == [False]
    assert server.count(method, resource) == 1  # no retry storm: one request, no connector or job retry
    assert sleeps == []
    assert kintone.record_values(ORDERS, rid)["ステータス"] == "未処理"
