"""A bad kintone API token says what to fix and is never retried: a webhook in, the live kintone
client answering with kintone's documented token errors (``responses``), a real RQ worker on a real
Redis, and the job in the failed registry after one request.

The answers are those kintone/cli-kintone's end-to-end tests expect from a real tenant
(features/record/import.feature): GAIA_IA02 for a wrong or draft token, GAIA_DA03 for two tokens
of one app, GAIA_NO01 for a token without the permission; older tenants answered 520.
"""

from __future__ import annotations

import json

import pytest
import responses
from rq.job import Job
from rq.serializers import JSONSerializer

from connectors.kintone.live import LiveKintoneClient
from kgbridge.jobs import make_queue
from kgbridge.samples import notification
from tests.conftest import WEBHOOK_TOKEN
from tests.people import ORDERS, held_order, new_client
from webhooks import create_app

BASE = "https://example.cybozu.com"
TOKEN = "OrdersTokenxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

IA02 = {"code": "GAIA_IA02", "id": "1505999166-897850006",
        "message": "The specified API token does not match the API token generated via an app."}
DA03 = {"code": "GAIA_DA03", "id": "1505999166-836316825",
        "message": "You cannot specify a duplicate API token for the same app."}
NO01 = {"code": "GAIA_NO01", "id": "lzQPJ1hkW3Aj4iVebWCG",
        "message": "Using this API token, you cannot run the specified API."}


@pytest.mark.parametrize(("status", "body", "fix"), [
    (400, IA02, "「アプリを更新」"),
    (520, IA02, "「アプリを更新」"),
    (400, DA03, "Give each app one token"),
    (403, NO01, "fix the token's permissions"),
    (520, NO01, "fix the token's permissions"),
])
def test_a_bad_token_fails_the_job_at_once_saying_what_to_fix(ctx, kintone, settings, redis_conn, drain,
                                                             status, body, fix):
    order = held_order(kintone, new_client(kintone, credit="承認"))
    webhook = notification(kintone, ORDERS, order)  # kintone's notification of the saved order
    ctx.kintone = LiveKintoneClient(BASE, {ORDERS: [TOKEN]}, sleep=lambda _s: None)
    web = create_app(settings, connection=redis_conn).test_client()

    with responses.RequestsMock() as live:
        live.get(f"{BASE}/k/v1/record.json", json=body, status=status)
        answer = web.post(f"/webhooks/kintone/{WEBHOOK_TOKEN}", data=json.dumps(webhook, ensure_ascii=False),
                          content_type="application/json")
        assert answer.status_code == 200  # accepted: nothing is lost
        drain()
        assert len(live.calls) == 1  # one request, no retry (neither in the client nor by the job)

    queue = make_queue(redis_conn, settings)
    [job_id] = queue.failed_job_registry.get_job_ids()
    job = Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)
    reason = job.meta["reason"]
    assert body["code"] in reason and "KGBRIDGE_KINTONE_API_TOKENS" in reason and fix in reason
    assert "record" not in reason.split("—")[-1]  # says to fix the setting, not the record
    assert TOKEN not in reason
    assert [a["transient"] for a in job.meta["attempts"]] == [False]
