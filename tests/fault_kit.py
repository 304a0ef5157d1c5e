"""Shared pieces of the fault tests: orders full of personal data, the loopback kintone, webhooks.

Adding a flow to the fault suites means adding a seeding helper here and a case to the suites'
case lists (each suite says where).
"""

from __future__ import annotations

import json
import uuid

from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

from connectors.kintone.fake import FakeKintone
from kgbridge.samples import COMPLETE_ORDER, notification
from tests.conftest import WEBHOOK_TOKEN
from tests.kintone_server import KintoneServer
from tests.pii import (
    API_TOKENS,
    COMPANY_NAME,
    COMPANY_PHONE,
    PERSON_EMAIL,
    PERSON_NAME,
    PERSON_PHONE,
    SUPERVISOR_NAME,
)

ORDERS, CLIENTS = "3", "1"
REP = [{"code": "yamada", "name": PERSON_NAME}]
SUPERVISOR = [{"code": "suzuki", "name": SUPERVISOR_NAME}]
MISSING_ITEMS = ("募集背景", "請求単価")


def seed_client(fake: FakeKintone, credit: str = "承認") -> str:
    return fake.seed(CLIENTS, {"会社名": COMPANY_NAME, "電話番号": COMPANY_PHONE, "与信状態": credit,
                               "担当営業": REP})


def seed_order(fake: FakeKintone, client_id: str, complete: bool = True) -> str:
    values = dict(COMPLETE_ORDER, 顧客=COMPANY_NAME, 顧客レコード番号=client_id, 担当営業=REP, 上長=SUPERVISOR)
    values["就業先環境・ルール"] = f"初日の連絡先: {PERSON_NAME}（{PERSON_PHONE} / {PERSON_EMAIL}）"
    if not complete:
        for item in MISSING_ITEMS:
            values.pop(item)
    return fake.seed(ORDERS, values)


def tokens_by_app_id(mappings) -> dict[str, str]:
    return {mappings[key].id: token for key, token in API_TOKENS.items()}


def start_kintone(fake: FakeKintone, mappings) -> KintoneServer:
    return KintoneServer(fake, tokens=tokens_by_app_id(mappings)).start()


def webhook_body(fake: FakeKintone, record_id: str, event_id: str | None = None, event_type: str = "ADD_RECORD") -> str:
    return json.dumps(notification(fake, ORDERS, record_id, event_type=event_type,
                                   event_id=event_id or str(uuid.uuid4())), ensure_ascii=False)


def post_webhook(client, body: str, token: str = WEBHOOK_TOKEN):
    return client.post(f"/webhooks/kintone/{token}", data=body, content_type="application/json")


def flow_job(redis_conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)


def failed_jobs(redis_conn, settings) -> list[str]:
    return FailedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).get_job_ids()


def finished_jobs(redis_conn, settings) -> list[str]:
    return FinishedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).get_job_ids()


def queued(redis_conn, settings) -> int:
    return Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).count
