"""Shared pieces of the fault tests: orders and contracts full of personal data, the loopback kintone
and GMO Sign, webhooks.

Adding a flow to the fault suites means adding a seeding helper here and a case to the suites'
case lists (each suite says where).
"""

from __future__ import annotations

import json
import uuid

from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, FinishedJobRegistry
from rq.serializers import JSONSerializer

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from connectors.kintone.fake import FakeKintone
from kgbridge.samples import COMPLETE_CONTRACT, COMPLETE_ORDER, notification
from tests.conftest import WEBHOOK_TOKEN
from tests.gmosign_server import GmoSignServer
from tests.gstaff_server import GStaffServer
from tests.kintone_server import KintoneServer
from tests.pii import (
    API_TOKENS,
    COMPANY_NAME,
    COMPANY_PHONE,
    GMOSIGN_CUSTOMER_ID,
    GMOSIGN_SECRET_KEY,
    PERSON_EMAIL,
    PERSON_NAME,
    PERSON_PHONE,
    REP_EMAIL,
    SUPERVISOR_NAME,
)
from tests.records import visited

ORDERS, CLIENTS, CONTRACTS, INQUIRIES = "3", "1", "5", "2"
REP = [{"code": "yamada", "name": PERSON_NAME}]
SUPERVISOR = [{"code": "suzuki", "name": SUPERVISOR_NAME}]
MISSING_ITEMS = ("募集背景", "請求単価")


def seed_client(fake: FakeKintone, credit: str = "承認") -> str:
    client = fake.seed(CLIENTS, {"会社名": COMPANY_NAME, "電話番号": COMPANY_PHONE, "与信状態": credit,
                                 "担当営業": REP})
    visited(fake, client)  # orders need a completed visit (seed A-3)
    return client


def seed_order(fake: FakeKintone, client_id: str, complete: bool = True) -> str:
    values = dict(COMPLETE_ORDER, 顧客=COMPANY_NAME, 顧客レコード番号=client_id, 担当営業=REP, 上長=SUPERVISOR)
    values["就業先環境・ルール"] = f"初日の連絡先: {PERSON_NAME}（{PERSON_PHONE} / {PERSON_EMAIL}）"
    if not complete:
        for item in MISSING_ITEMS:
            values.pop(item)
    return fake.seed(ORDERS, values)


def seed_inquiry(fake: FakeKintone, company: str = COMPANY_NAME, phone: str = COMPANY_PHONE,
                 assigned: bool = True) -> str:
    """An HP inquiry (a bulk import: no webhook) whose contact is a person; G-Staff knows the company
    when ``gstaff_knowing_the_company`` is its G-Staff. ``assigned``: its 担当営業 is entered."""
    return fake.seed(INQUIRIES, {"受付経路": "HP", "会社名": company, "電話番号": phone, "担当者名": PERSON_NAME,
                                 "問い合わせ内容": f"折り返しは {PERSON_PHONE} / {PERSON_EMAIL} まで",
                                 "担当営業": REP if assigned else []})


def gstaff_knowing_the_company() -> FakeGStaff:
    from decimal import Decimal

    from connectors.gstaff.interface import ClientHistory, ClientSummary

    fake = FakeGStaff.with_samples()
    # 離職率 20 % (above the mapping's 15 %): a risk, so each inquiry linked to it gets a comment.
    fake.add_client(ClientSummary("G-2001", COMPANY_NAME, phone=COMPANY_PHONE),
                    ClientHistory("G-2001", turnover_rate=Decimal("0.20"), current_staff=2, past_staff=7))
    return fake


def seed_contract(fake: FakeKintone, client_id: str) -> str:
    """A complete 個別契約 in 発報処理中 (marketing just ran 発報); the signer and the rep are our people."""
    values = dict(COMPLETE_CONTRACT, 顧客=COMPANY_NAME, 顧客レコード番号=client_id, 担当営業=REP,
                  担当営業メール=REP_EMAIL, 署名者氏名=PERSON_NAME, 署名者メール=PERSON_EMAIL)
    return fake.seed(CONTRACTS, values, status="発報処理中")


FOLLOW_UPS = "7"


def seed_concluded_contract(fake: FakeKintone, staff_id: str, status: str = "締結済") -> str:
    """A 個別契約 concluded (a reconcile page of them: a day of 締結済 whose webhooks were lost); the
    staff member and the 指揮命令者 are people, their names go into every follow-up."""
    return fake.seed(CONTRACTS, {"契約種別": "個別契約", "顧客": COMPANY_NAME, "担当営業": REP, "派遣スタッフ": PERSON_NAME,
                                 "派遣スタッフID": staff_id, "指揮命令者": SUPERVISOR_NAME, "派遣開始日": "2026-10-01",
                                 "派遣終了日": "2027-03-31"}, status=status)


def seed_done_follow_up(fake: FakeKintone, staff_id: str) -> str:
    """The person's last follow-up of an earlier contract: done, pointing to no next one (a new
    contract's first follow-up continues it)."""
    return fake.seed(FOLLOW_UPS, {"管理キー": f"900:month_3:{staff_id}", "フォロー名": "3ヶ月フォロー", "区分": "スタッフフォロー",
                                  "契約レコード番号": "900", "スタッフID": staff_id, "派遣スタッフ": PERSON_NAME,
                                  "予定日": "2026-08-03", "実施日": "2026-08-03",
                                  "確認した事実": f"緊急連絡先は {PERSON_PHONE}", "引継ぎ先": "", "前回フォロー": ""})


def tokens_by_app_id(mappings) -> dict[str, str]:
    return {mappings[key].id: token for key, token in API_TOKENS.items()}


def start_kintone(fake: FakeKintone, mappings) -> KintoneServer:
    return KintoneServer(fake, tokens=tokens_by_app_id(mappings)).start()


def start_gmosign(fake: FakeGmoSign) -> GmoSignServer:
    return GmoSignServer(fake, GMOSIGN_CUSTOMER_ID, GMOSIGN_SECRET_KEY).start()


def gmosign_settings(server: GmoSignServer) -> dict[str, object]:
    """``worker_env`` settings for the live GMO Sign client against ``server``, with short bounds."""
    return {"gmosign_base_url": server.url, "gmosign_customer_id": GMOSIGN_CUSTOMER_ID,
            "gmosign_secret_key": GMOSIGN_SECRET_KEY, "gmosign_timeout_seconds": 5,
            "gmosign_retry_budget_seconds": 5}


GSTAFF_API_KEY = "loopback-gstaff-key-0123456789"


def start_gstaff(fake: FakeGStaff | None = None) -> GStaffServer:
    """G-Staff's read side on loopback (the contract's dispatch-law check reads it)."""
    return GStaffServer(fake or FakeGStaff.with_samples(), GSTAFF_API_KEY).start()


def gstaff_settings(server: GStaffServer) -> dict[str, object]:
    """``worker_env`` settings for the live G-Staff client against ``server``."""
    return {"gstaff_base_url": server.url, "gstaff_api_key": GSTAFF_API_KEY}


def webhook_body(fake: FakeKintone, record_id: str, event_id: str | None = None, event_type: str = "ADD_RECORD",
                 app: str = ORDERS) -> str:
    return json.dumps(notification(fake, app, record_id, event_type=event_type,
                                   event_id=event_id or str(uuid.uuid4())), ensure_ascii=False)


def post_webhook(client, body: str, token: str = WEBHOOK_TOKEN):
    return client.post(f"/webhooks/kintone/{token}", data=body, content_type="application/json")


def flow_job(redis_conn, job_id: str) -> Job:
    return Job.fetch(job_id, connection=redis_conn, serializer=JSONSerializer)


def job_finished(redis_conn, job_id: str) -> bool:
    """True once the job exists and finished (the worker's dispatcher creates it shortly after a webhook)."""
    try:
        return flow_job(redis_conn, job_id).get_status() == JobStatus.FINISHED
    except NoSuchJobError:
        return False


def failed_jobs(redis_conn, settings) -> list[str]:
    return FailedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).get_job_ids()


def finished_jobs(redis_conn, settings) -> list[str]:
    return FinishedJobRegistry(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).get_job_ids()


def queued(redis_conn, settings) -> int:
    return Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer).count
