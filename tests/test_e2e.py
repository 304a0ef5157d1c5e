"""End to end: the receiver under gunicorn and ``python worker.py`` as their own processes on a
real Redis, kintone played on loopback, so the live connector is what talks to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from connectors.kintone.fake import FakeKintone
from kgbridge.samples import notification, seed_embedded
from tests.conftest import LIVE_ENV, WEBHOOK_TOKEN
from tests.kintone_server import KintoneServer, maintenance_page
from tests.procs import free_port, wait_until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parent.parent
API_TOKEN = "loopback-api-token"
ORDERS = "3"


@pytest.fixture
def stack(redis_url, redis_conn, mappings, tmp_path):
    fake = FakeKintone.from_mappings(mappings)
    ids = seed_embedded(fake, mappings)
    port = free_port()
    with KintoneServer(fake, tokens={app.id: API_TOKEN for app in mappings}) as kintone:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KGBRIDGE_")},
            **LIVE_ENV,  # G-Staff and GMO Sign settings live mode requires; the order flow calls neither
            "KGBRIDGE_REDIS_URL": redis_url,
            "KGBRIDGE_CONNECTOR_MODE": "live",
            "KGBRIDGE_KINTONE_BASE_URL": kintone.url,
            "KGBRIDGE_KINTONE_API_TOKENS": json.dumps({a.key: API_TOKEN for a in mappings}),
            "KGBRIDGE_WEBHOOK_TOKEN": WEBHOOK_TOKEN,
            "KGBRIDGE_RETRY_INTERVALS": "1,1,1",
            # The samples' webhooks are what these tests post: a reconcile sweep at the worker's
            # start would find them first (the other periodic tasks run as usual).
            "KGBRIDGE_RECONCILE_INTERVAL_SECONDS": "0",
            # Business hours whatever time the tests run at: comments are posted at once (quiet hours).
            "KGBRIDGE_CLOCK_START": "2026-12-01T10:00:00+09:00",
        }
        logs = {name: open(tmp_path / f"{name}.log", "wb") for name in ("gunicorn", "worker")}
        web = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--no-control-socket", "webhooks:create_app()"], cwd=ROOT, env=env, stdout=logs["gunicorn"], stderr=subprocess.STDOUT)
        worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=logs["worker"],
                                  stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _ready(base), 20, "gunicorn to answer /readyz")
            yield {"base": base, "fake": fake, "ids": ids, "kintone": kintone, "logs": tmp_path}
        finally:
            for proc in (web, worker):
                proc.terminate()
            for proc in (web, worker):
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
            for f in logs.values():
                f.close()


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/readyz", timeout=1).status_code == 200
    except requests.RequestException:  # refused while booting, or accepted before a worker is up
        return False


def _post(stack, body) -> requests.Response:
    return requests.post(f"{stack['base']}/webhooks/kintone/{WEBHOOK_TOKEN}", json=body, timeout=5)


def test_order_webhook_through_gunicorn_and_worker_reaches_supervisor_approval(stack):
    fake, ids = stack["fake"], stack["ids"]
    complete = notification(fake, ORDERS, ids["order_complete"])
    incomplete = notification(fake, ORDERS, ids["order_incomplete"])

    assert _post(stack, complete).json() == {"ok": True, "duplicate": False, "jobs": 1}
    assert _post(stack, incomplete).status_code == 200
    assert _post(stack, complete).json()["duplicate"] is True

    wait_until(lambda: fake.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち", 20,
                "the complete order to reach 上長承認待ち")
    wait_until(lambda: fake.comment_texts(ORDERS, ids["order_incomplete"]), 20, "the complaint comment")

    record = fake.record_values(ORDERS, ids["order_complete"])
    assert [u["code"] for u in record["作業者"]] == ["tanaka"]
    [text] = fake.comment_texts(ORDERS, ids["order_incomplete"])
    assert "・募集背景" in text


def test_kintone_maintenance_page_is_ridden_out_by_retries(stack):
    fake, ids, kintone = stack["fake"], stack["ids"], stack["kintone"]
    kintone.fail(maintenance_page(), times=8, method="GET", resource="record")

    assert _post(stack, notification(fake, ORDERS, ids["order_complete"])).status_code == 200

    wait_until(lambda: fake.record_values(ORDERS, ids["order_complete"])["ステータス"] == "上長承認待ち", 40,
                "the order to go through once kintone is back")
    assert fake.calls[("update_status", ORDERS)] == 1
