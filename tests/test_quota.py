"""The quota guard (issue 17): every kintone request is counted per app and Japan date in Redis; past
the configured share the non-urgent sweeps slow down, and ``kgbridge quota`` says so."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from connectors.kintone.fake import FakeKintone
from connectors.kintone.interface import BulkWrite, StatusAction
from connectors.kintone.live import LiveKintoneClient
from kgbridge import periodic, quota
from tests.kintone_server import KintoneServer, rate_limited

ORDERS, CLIENTS = "3", "1"
TOKENS = {ORDERS: "quotaOrdersToken0001", CLIENTS: "quotaClientsToken001"}
HOUR = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 JST, a Tuesday


def live_client(server, counter) -> LiveKintoneClient:
    return LiveKintoneClient(server.url, {a: [t] for a, t in TOKENS.items()}, sleep=lambda s: None, on_request=counter,
                             file_app=ORDERS)  # file.json carries one token


def test_every_request_is_counted_under_its_app_retries_and_bulk_calls_included(mappings, redis_conn, settings):
    fake = FakeKintone.from_mappings(mappings)
    order = fake.seed(ORDERS, {"案件名": "検品"})
    fake.seed(CLIENTS, {"会社名": "株式会社サンプル"})
    with KintoneServer(fake, tokens=TOKENS) as server:
        client = live_client(server, quota.CallCounter(redis_conn))
        server.fail(rate_limited(), times=2)  # two 429s, then the read goes through: three requests
        client.get_record(ORDERS, order)
        client.get_records(CLIENTS, "")
        client.bulk_request([BulkWrite(ORDERS, (StatusAction(order, "上長承認依頼", "tanaka", "1"),))])
        client.upload_file("a.pdf", b"%PDF", "application/pdf")
        assert len(server.requests) == 6

    apps = {u.app: u.calls for u in quota.usage(redis_conn, settings, mappings)}
    assert apps["orders"] == 4 and apps["clients"] == 1 and apps[quota.FILE_CALLS] == 1
    assert apps["contracts"] == 0  # every mapped app is listed
    assert redis_conn.ttl(quota.day_key()) > 0


def test_the_day_is_the_japan_date(redis_conn):
    late_utc = datetime(2026, 12, 1, 15, 30, tzinfo=UTC)  # 2026-12-02 00:30 in Tokyo
    quota.CallCounter(redis_conn, clock=lambda: late_utc)([ORDERS])
    assert redis_conn.hget("kgbridge:quota:2026-12-02", ORDERS) == b"1"
    assert quota.day_key(late_utc - timedelta(minutes=31)) == "kgbridge:quota:2026-12-01"


def _use(redis_conn, app: str, calls: int) -> None:
    redis_conn.hset(quota.day_key(), app, calls)


def test_past_the_share_the_non_urgent_sweeps_run_every_factor_th_slot_only(settings, redis_conn):
    settings = settings.model_copy(update={"kintone_daily_quota": 1000, "quota_slowdown_share": 0.6,
                                           "quota_slowdown_factor": 4})
    tasks = {t.name: t for t in periodic.TASKS}

    def offers(name: str, day: int, hours: int = 4) -> int:
        """In how many slots of ``hours`` hours the task is enqueued (each job done before the next slot)."""
        task, n, start = tasks[name], 0, HOUR + timedelta(days=day)
        for k in range(hours * 3600 // task.interval(settings)):
            if periodic.offer(redis_conn, settings, task, start + timedelta(seconds=k * task.interval(settings))):
                n += 1
                redis_conn.delete(f"{periodic.LAST_PREFIX}:{name}")  # as if its job ran at once
        return n

    _use(redis_conn, ORDERS, 599)  # just under 60 %
    assert not quota.slowed(redis_conn, settings)
    assert offers("reconcile", day=0) == 48  # every 5 minutes

    _use(redis_conn, ORDERS, 600)
    assert quota.over_share(redis_conn, settings) == [ORDERS]
    assert offers("reconcile", day=1) == 12  # every 20 minutes
    assert offers("workflow_delays", day=1) == 1  # hourly → every 4 hours
    assert offers("deadlines", day=1) == 8  # reminders keep their pace
    assert quota.NON_URGENT == {"reconcile", "workflow_delays", "open_envelopes"}


def test_kgbridge_quota_shows_each_app_and_exits_1_once_sweeps_are_slowed(cli, redis_conn, settings):
    _use(redis_conn, ORDERS, 1234)
    result = cli("quota")
    assert result.exit_code == 0, result.output
    assert "orders" in result.output and "1,234" in result.output and "12.3%" in result.output
    assert "every sweep at its pace" in result.output

    _use(redis_conn, CLIENTS, 6000)
    result = cli("quota", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["slowed"] is True and data["non_urgent"] == ["open_envelopes", "reconcile", "workflow_delays"]
    assert {a["app"]: a["share"] for a in data["apps"]}["clients"] == 0.6


def test_metrics_lines_give_calls_share_and_slowdown(redis_conn, settings, mappings):
    _use(redis_conn, ORDERS, 250)
    lines = quota.metrics_lines(redis_conn, settings, mappings)
    assert f'kgbridge_kintone_calls_today{{app="orders",app_id="{ORDERS}"}} 250' in lines
    assert f'kgbridge_kintone_quota_share{{app="orders",app_id="{ORDERS}"}} 0.025' in lines
    assert "kgbridge_sweeps_slowed 0" in lines
