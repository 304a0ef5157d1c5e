"""``kgbridge jobs failed|show|replay|purge`` through click's CliRunner, against a real Redis,
a real RQ worker and the fake kintone: a flow fails, the operator sees why, fixes the cause,
replays, and the record ends up done exactly once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from connectors.kintone import KintoneAuthError
from connectors.kintone.errors import KintoneUnavailable
from kgbridge.jobs import FlowRequest, enqueue_flow, make_queue
from kgbridge.samples import notification, seed_embedded
from tests.conftest import dispatch_inbox
from webhooks.intake import accept_kintone, parse_kintone

ORDERS = "3"


def auth_error():
    return KintoneAuthError("GET record.json: API token is invalid", status=401, code="CB_AU01")


@pytest.fixture
def ids(kintone, mappings):
    return seed_embedded(kintone, mappings)


@pytest.fixture
def queue(redis_conn, settings):
    return make_queue(redis_conn, settings)


def deliver(kintone, ops_env, record_id, **kw):
    """A kintone webhook for the record, through the receiver's own intake; returns the job id."""
    body = json.dumps(notification(kintone, ORDERS, record_id, **kw)).encode()
    accepted = accept_kintone(parse_kintone(body), **ops_env.intake())
    dispatch_inbox(ops_env.connection, ops_env.settings, ops_env.mappings)  # as the worker's dispatcher
    [job_id] = accepted.jobs
    return job_id


def failed_ids(queue):
    return FailedJobRegistry(queue=queue).get_job_ids()


def test_a_failing_flow_shows_up_in_jobs_failed_with_its_reason(cli, kintone, ops_env, ids, drain):
    job_id = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    drain()

    result = cli("jobs", "failed")

    assert result.exit_code == 1  # something is wrong
    assert job_id in result.stdout
    assert "order_registration" in result.stdout and "orders" in result.stdout
    assert "KintoneAuthError: [401] [CB_AU01] GET record.json: API token is invalid" in result.stdout

    [row] = json.loads(cli("jobs", "failed", "--json").stdout)["failed"]
    assert row["id"] == job_id
    assert (row["flow"], row["app"], row["record_id"]) == ("order_registration", "orders", ids["order_complete"])
    assert row["attempts"] == 1  # permanent: no retries
    assert row["first_failure"] == row["last_failure"]
    assert row["reason"].startswith("KintoneAuthError")


def test_jobs_failed_filters_by_flow_and_time(cli, kintone, ops_env, ids, drain, queue, settings):
    deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    enqueue_flow(queue, settings, FlowRequest("no_such_flow", "orders", ids["order_incomplete"], "r1"))
    drain()

    both = json.loads(cli("jobs", "failed", "--json").stdout)
    only = json.loads(cli("jobs", "failed", "--flow", "no_such_flow", "--json").stdout)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = cli("jobs", "failed", "--since", later)

    assert both["count"] == 2
    assert [r["flow"] for r in only["failed"]] == ["no_such_flow"]
    assert "unknown flow" in only["failed"][0]["reason"]
    assert cli("jobs", "failed", "--since", "1h", "--json").exit_code == 1
    assert future.exit_code == 0 and "No failed jobs." in future.stdout


def test_jobs_show_prints_the_payload_every_attempt_and_the_traceback(cli, kintone, ops_env, ids, drain, settings):
    # Two transient failures, then a permanent one: three attempts, one traceback.
    job_id = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", KintoneUnavailable("GET record.json: non-JSON answer (text/html)", status=503),
                      times=2)
    drain()  # the first two attempts fail and are retried at once (intervals 0 in tests)
    assert Job.fetch(job_id, connection=ops_env.connection, serializer=JSONSerializer).get_status() == "finished"
    failing = deliver(kintone, ops_env, ids["order_incomplete"])
    kintone.fail_next("get_record", auth_error())
    drain()

    shown = cli("jobs", "show", job_id, "--json")
    details = json.loads(shown.stdout)
    assert shown.exit_code == 0
    assert details["status"] == "finished"
    assert details["payload"]["kwargs"] == {"flow": "order_registration", "app_key": "orders",
                                            "record_id": ids["order_complete"]}
    assert [a["transient"] for a in details["attempts"]] == [True, True]

    text = cli("jobs", "show", failing).stdout
    assert "Attempts (1):" in text and "permanent" in text and "KintoneAuthError" in text
    assert "Traceback (most recent call last)" in text
    assert f'"record_id": "{ids["order_incomplete"]}"' in text


def test_jobs_show_of_an_unknown_id_says_so(cli):
    result = cli("jobs", "show", "order_registration-orders-999-r1")
    assert result.exit_code == 1
    assert "no job order_registration-orders-999-r1" in result.stderr


def test_replay_after_the_cause_is_fixed_makes_the_job_succeed_once(cli, kintone, ops_env, ids, drain, queue):
    job_id = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())  # e.g. a revoked API token
    drain()
    assert kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "未処理"
    # The operator fixes the token (the fake's failure is spent), then replays.

    result = cli("jobs", "replay", job_id)
    assert result.exit_code == 0
    assert "replayed" in result.stdout and "1 of 1 job(s) replayed." in result.stdout
    drain()

    record = kintone.record_values(ORDERS, ids["order_complete"])
    assert record["ステータス"] == "上長承認待ち"
    assert record["$revision"] == "3"  # one action, not two
    assert kintone.calls[("update_status", ORDERS)] == 1
    assert failed_ids(queue) == []
    assert cli("jobs", "failed").exit_code == 0
    again = cli("jobs", "replay", job_id)
    assert again.exit_code == 1 and "NOT FAILED" in again.stdout
    drain()
    assert kintone.calls[("update_status", ORDERS)] == 1
    assert len(json.loads(cli("jobs", "show", job_id, "--json").stdout)["replays"]) == 1


def test_a_replayed_job_that_fails_again_is_retried_per_the_policy(cli, kintone, ops_env, ids, drain, settings):
    job_id = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    drain()
    cli("jobs", "replay", job_id)
    # kintone is now down for as many attempts as the policy retries: the budget is fresh.
    retries = len(settings.retry_intervals)
    kintone.fail_next("get_record", KintoneUnavailable("GET record.json: [503]", status=503), times=retries)

    drain()

    assert kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち"
    attempts = json.loads(cli("jobs", "show", job_id, "--json").stdout)["attempts"]
    assert [a["transient"] for a in attempts] == [False] + [True] * retries


def test_a_replayed_job_that_keeps_failing_goes_back_to_failed_after_its_retries(cli, kintone, ops_env, ids,
                                                                                  drain, settings, queue):
    job_id = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    drain()
    cli("jobs", "replay", job_id)
    retries = len(settings.retry_intervals)
    kintone.fail_next("get_record", KintoneUnavailable("GET record.json: [503]", status=503), times=retries + 1)

    drain()

    assert failed_ids(queue) == [job_id]
    [row] = json.loads(cli("jobs", "failed", "--json").stdout)["failed"]
    assert row["attempts"] == 1 + retries + 1
    assert row["replays"] == 1
    assert row["reason"].startswith("KintoneUnavailable")


def test_replay_reports_each_job_and_does_not_stop_at_a_bad_one(cli, kintone, ops_env, ids, drain, queue):
    first = deliver(kintone, ops_env, ids["order_complete"])
    second = deliver(kintone, ops_env, ids["order_incomplete"])
    kintone.fail_next("get_record", auth_error(), times=2)
    drain()
    cli("jobs", "replay", second)
    drain()  # second is finished now

    result = cli("jobs", "replay", "nope-orders-1-r1", second, first, "--json")

    assert result.exit_code == 1
    outcomes = {r["id"]: r["outcome"] for r in json.loads(result.stdout)["results"]}
    assert outcomes == {"nope-orders-1-r1": "not_found", second: "not_failed", first: "replayed"}
    drain()
    assert kintone.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち"


def test_replay_all_of_one_flow_leaves_other_flows_failed(cli, kintone, ops_env, ids, drain, queue, settings):
    ours = deliver(kintone, ops_env, ids["order_complete"])
    kintone.fail_next("get_record", auth_error())
    enqueue_flow(queue, settings, FlowRequest("no_such_flow", "orders", ids["order_incomplete"], "r1"))
    other = f"no_such_flow-orders-{ids['order_incomplete']}-r1"
    drain()

    dry = cli("jobs", "replay", "--all", "--flow", "order_registration", "--dry-run")
    assert dry.exit_code == 0 and "would replay" in dry.stdout and "(dry run)" in dry.stdout
    assert sorted(failed_ids(queue)) == sorted([ours, other])

    result = cli("jobs", "replay", "--all", "--flow", "order_registration")

    assert result.exit_code == 0 and ours in result.stdout and other not in result.stdout
    drain()
    assert failed_ids(queue) == [other]


@pytest.mark.parametrize("args", [["jobs", "replay"], ["jobs", "replay", "x", "--all"],
                                  ["jobs", "replay", "x", "--flow", "order_registration"],
                                  ["jobs", "failed", "--since", "yesterday"], ["jobs", "purge"]])
def test_bad_usage_exits_2(cli, args):
    assert cli(*args).exit_code == 2


def _fail_one(kintone, ops_env, record_id, drain, days_ago: int = 0) -> str:
    job_id = deliver(kintone, ops_env, record_id)
    kintone.fail_next("get_record", auth_error())
    drain()
    if days_ago:  # as if it had failed that long ago
        job = Job.fetch(job_id, connection=ops_env.connection, serializer=JSONSerializer)
        at = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(timespec="seconds")
        job.meta["attempts"] = [dict(a, at=at) for a in job.meta["attempts"]]
        job.save_meta()
    return job_id


def test_purge_removes_only_old_failed_jobs_of_the_flow_after_asking(cli, kintone, ops_env, ids, drain, queue,
                                                                     settings, mappings):
    old = _fail_one(kintone, ops_env, ids["order_complete"], drain, days_ago=40)
    recent = _fail_one(kintone, ops_env, ids["order_incomplete"], drain, days_ago=3)
    enqueue_flow(queue, settings, FlowRequest("no_such_flow", "orders", "7", "r1"))
    drain()
    other_flow = "no_such_flow-orders-7-r1"
    job = Job.fetch(other_flow, connection=ops_env.connection, serializer=JSONSerializer)
    job.meta["attempts"] = [dict(a, at="2026-01-01T00:00:00+00:00") for a in job.meta["attempts"]]
    job.save_meta()
    queued = deliver(kintone, ops_env, kintone.seed(ORDERS, {"案件名": "waiting"}))  # not failed: never purged

    declined = cli("jobs", "purge", "--older-than", "30d", "--flow", "order_registration", input="n\n")
    assert declined.exit_code == 1 and old in declined.stderr
    assert sorted(failed_ids(queue)) == sorted([old, recent, other_flow])

    result = cli("jobs", "purge", "--older-than", "30d", "--flow", "order_registration", input="y\n")

    assert result.exit_code == 0 and "Deleted 1 failed job(s)." in result.stdout
    assert sorted(failed_ids(queue)) == sorted([recent, other_flow])
    assert not ops_env.connection.exists(Job.key_for(old))
    assert Job.fetch(queued, connection=ops_env.connection).get_status() == "queued"

    everything = cli("jobs", "purge", "--older-than", "1d", "--yes", "--json")
    assert json.loads(everything.stdout)["count"] == 2
    assert failed_ids(queue) == []
    assert cli("jobs", "purge", "--older-than", "1d", "--yes").stdout.startswith("No failed jobs match")
