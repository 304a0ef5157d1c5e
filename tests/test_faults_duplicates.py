"""Duplicate deliveries in a burst of notifications: each effect happens once.

A burst of kintone notifications (one per order), 10 % of them delivered twice — half the same
notification again, half a new notification id for the same record revision (a re-sent change) —
posted concurrently over HTTP to the receiver, then dispatched into jobs and run by a real RQ
worker. More redeliveries arrive after the jobs ran. Every order gets exactly one job and one
effect: one approval request or one comment.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

from tests.conftest import WEBHOOK_TOKEN
from tests.fault_kit import (
    MISSING_ITEMS,
    ORDERS,
    failed_jobs,
    finished_jobs,
    queued,
    seed_client,
    seed_order,
    webhook_body,
)
from webhooks import create_app

pytestmark = pytest.mark.timeout(60)

ORDERS_IN_BURST = 60
DUPLICATE_SHARE = 0.10


@pytest.fixture
def receiver_url(settings, redis_conn, ctx):
    server = make_server("127.0.0.1", 0, create_app(settings, connection=redis_conn), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/webhooks/kintone/{WEBHOOK_TOKEN}"
    server.shutdown()
    server.server_close()


def _post_all(url: str, bodies: list[str]) -> list[requests.Response]:
    with requests.Session() as session, ThreadPoolExecutor(max_workers=8) as pool:
        def post(body):
            return session.post(url, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=10)
        return list(pool.map(post, bodies))


def test_a_burst_with_ten_percent_duplicates_has_each_effect_once(receiver_url, kintone, drain, redis_conn, settings):
    rng = random.Random(7)
    client = seed_client(kintone)
    complete = {seed_order(kintone, client, complete=True) for _ in range(ORDERS_IN_BURST * 2 // 3)}
    incomplete = {seed_order(kintone, client, complete=False) for _ in range(ORDERS_IN_BURST - len(complete))}
    originals = [webhook_body(kintone, rid) for rid in sorted(complete | incomplete, key=int)]
    twice = rng.sample(originals, int(len(originals) * DUPLICATE_SHARE))
    again = twice[: len(twice) // 2]  # the same notification delivered again
    resent = [json.dumps(dict(json.loads(b), id=str(uuid.uuid4())), ensure_ascii=False)  # same change, new id
              for b in twice[len(twice) // 2:]]
    burst = originals + again + resent
    rng.shuffle(burst)
    reads_before = kintone.calls[("get_record", ORDERS)]

    answers = _post_all(receiver_url, burst)
    drain()
    late = _post_all(receiver_url, rng.sample(originals, 5))  # redelivered after the jobs ran
    drain()

    assert [a.status_code for a in answers + late] == [200] * len(answers + late)
    # A notification delivered again is answered as a duplicate and recorded once; a new notification
    # of the same change is recorded, and its job id (flow, app, record, revision) makes no second job.
    assert sum(a.json()["duplicate"] for a in answers + late) == len(again) + len(late)
    assert sorted(finished_jobs(redis_conn, settings)) == sorted(f"order_registration-orders-{rid}-r1"
                                                                 for rid in complete | incomplete)
    # ... and ran once: each job reads its order once (a job enqueued again under its id would run again).
    assert kintone.calls[("get_record", ORDERS)] - reads_before == ORDERS_IN_BURST
    for rid in complete:
        record = kintone.record_values(ORDERS, rid)
        assert (record["ステータス"], record["$revision"]) == ("上長承認待ち", "3")
    assert kintone.calls[("update_status", ORDERS)] == len(complete)
    for rid in incomplete:
        [text] = kintone.comment_texts(ORDERS, rid)
        assert all(f"・{item}" in text for item in MISSING_ITEMS)
    assert kintone.calls[("add_comment", ORDERS)] == len(incomplete)
    assert queued(redis_conn, settings) == 0 and failed_jobs(redis_conn, settings) == []
