"""Failed flow jobs: transient errors retry on the schedule, permanent ones stop at once with the
reason, through a real RQ worker on a real Redis."""

from __future__ import annotations

from rq.job import Job
from rq.serializers import JSONSerializer

from connectors.kintone import KintoneAuthError, KintoneUnavailable
from kgbridge.jobs import FlowRequest, enqueue_flow, make_queue
from kgbridge.samples import seed_embedded

ORDERS = "3"


def _enqueue(settings, redis_conn, record_id):
    queue = make_queue(redis_conn, settings)
    request = FlowRequest("order_registration", "orders", record_id, "r1")
    assert enqueue_flow(queue, settings, request)
    return queue, request.job_id


def test_transient_errors_retry_until_kintone_answers(settings, redis_conn, kintone, mappings, drain):
    ids = seed_embedded(kintone, mappings)
    kintone.fail_next("get_record", KintoneUnavailable("maintenance", status=503), times=2)
    _, job_id = _enqueue(settings, redis_conn, ids["order_complete"])

    drain()

    assert kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち"
    job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == "finished"
    assert [a["transient"] for a in job.meta["attempts"]] == [True, True]


def test_permanent_error_fails_at_once_with_the_reason(settings, redis_conn, kintone, mappings, drain):
    ids = seed_embedded(kintone, mappings)
    kintone.fail_next("get_record", KintoneAuthError("API token is not valid", status=401, code="CB_WA01"))
    queue, job_id = _enqueue(settings, redis_conn, ids["order_complete"])

    drain()

    job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    assert job_id in queue.failed_job_registry.get_job_ids()
    assert kintone.calls[("get_record", ORDERS)] == 1  # no retry storm
    assert "KintoneAuthError" in job.meta["reason"] and "CB_WA01" in job.meta["reason"]


def test_retries_end_in_the_failed_registry_when_the_budget_is_spent(settings, redis_conn, kintone, mappings, drain):
    ids = seed_embedded(kintone, mappings)
    kintone.fail_next("get_record", KintoneUnavailable("down", status=503), times=10)
    queue, job_id = _enqueue(settings, redis_conn, ids["order_complete"])

    drain()

    assert job_id in queue.failed_job_registry.get_job_ids()
    assert kintone.calls[("get_record", ORDERS)] == 1 + len(settings.retry_intervals)


def test_jobs_carry_ids_only_never_record_values(settings, redis_conn, kintone, mappings):
    ids = seed_embedded(kintone, mappings)
    _, job_id = _enqueue(settings, redis_conn, ids["order_complete"])
    stored = b"".join(v for v in redis_conn.hgetall(f"rq:job:{job_id}").values())
    assert "サンプル物流".encode() not in stored and b"sato" not in stored
