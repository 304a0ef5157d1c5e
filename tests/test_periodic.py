"""The periodic tasks (kgbridge/periodic.py): every worker's ticker offers them, Redis lets one
job per task and time slot through, and a real RQ worker runs each against the fakes."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
from rq.job import Job
from rq.registry import FailedJobRegistry

from connectors.gmosign.fake import FakeGmoSign
from connectors.gstaff.fake import FakeGStaff
from connectors.kintone import KintoneAuthError
from kgbridge import bootstrap, envelopes, periodic
from kgbridge.jobs import make_queue
from kgbridge.samples import COMPLETE_ORDER
from tests.records import SATO, at, seed, utc, visited

CLIENTS, INQUIRIES, ORDERS, WORKFLOW, CONTRACTS, KPI = "1", "2", "3", "4", "5", "8"
HOUR = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)  # 10:00 in Tokyo, the start of an hour's slot
WEDNESDAY_MORNING = "2026-11-25T10:00"  # Tokyo; Monday the 23rd was 勤労感謝の日
NAMES = {t.name for t in periodic.TASKS}


@pytest.fixture
def queue(redis_conn, settings):
    return make_queue(redis_conn, settings)


@pytest.fixture
def worker_context(ctx, settings):
    """What a worker process holds: the flow context (fakes of every system) and its settings."""
    ctx.gstaff = FakeGStaff.with_samples()
    ctx.gmosign = FakeGmoSign()
    bootstrap.set_context(ctx, settings)
    return ctx


def ticker_pair(settings, redis_url):
    """Two workers' tickers, each with its own Redis connection."""
    return [(periodic.PeriodicTicker(settings), redis.Redis.from_url(redis_url)) for _ in range(2)]


def tick_together(pair, now: datetime) -> list[str]:
    """Both tickers offer at the same moment, in two threads; every job id either enqueued."""
    barrier, enqueued = threading.Barrier(len(pair)), []

    def offer(ticker, connection):
        barrier.wait()
        enqueued.extend(ticker.tick(connection, now))

    threads = [threading.Thread(target=offer, args=item) for item in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return enqueued


def test_two_workers_enqueue_each_task_once_per_slot(settings, redis_url, queue, worker_context, drain):
    pair = ticker_pair(settings, redis_url)
    moments = [HOUR, HOUR + timedelta(seconds=1), HOUR + timedelta(seconds=299), HOUR + timedelta(seconds=300),
               HOUR + timedelta(seconds=1799), HOUR + timedelta(seconds=1800), HOUR + timedelta(hours=1)]

    enqueued = []
    for moment in moments:
        enqueued += tick_together(pair, moment)
        drain()  # the jobs run between slots, as a worker would

    assert len(enqueued) == len(set(enqueued))  # never the same job twice
    per_task = {name: sorted(j for j in enqueued if j.rsplit("-", 1)[0] == name) for name in NAMES}
    assert {name: len(ids) for name, ids in per_task.items()} == {
        "reconcile": 5,  # 300 s slots: :00 (three offers), :05, :29, :30, 11:00
        "deadlines": 3,  # 1800 s: :00, :30, 11:00
        "workflow_delays": 2,  # 3600 s: 10:00, 11:00
        "open_envelopes": 2,
        "held_messages": 5,  # 300 s, as reconcile
        "envelope_lookups": 6,  # 60 s: every distinct minute of the moments
        "retention_kpi": 1,  # a day's slot
    }
    assert per_task["deadlines"][0] == f"deadlines-{int(HOUR.timestamp()) // 1800}"
    assert len(FailedJobRegistry(queue=queue)) == 0


def test_a_task_that_is_off_is_never_enqueued(settings, redis_url, redis_conn, queue):
    off = settings.model_copy(update={"workflow_delay_sweep_seconds": 0, "open_envelope_check_seconds": 0,
                                      "held_message_seconds": 0, "gmosign_lookup_seconds": 0,
                                      "retention_kpi_seconds": 0})
    pair = ticker_pair(off, redis_url)

    for minutes in range(0, 24 * 60, 30):
        tick_together(pair, HOUR + timedelta(minutes=minutes))

    assert {j.rsplit("-", 1)[0] for j in queue.job_ids} == {"reconcile", "deadlines"}
    assert redis_conn.keys(f"{periodic.SLOT_PREFIX}:workflow_delays:*") == []
    assert redis_conn.keys(f"{periodic.SLOT_PREFIX}:open_envelopes:*") == []
    all_off = off.model_copy(update={"reconcile_interval_seconds": 0, "deadline_sweep_seconds": 0})
    assert periodic.start_ticker(all_off) is None  # no thread at all


def test_a_slot_is_skipped_while_the_tasks_previous_job_still_waits(settings, redis_conn, queue):
    reconcile = next(t for t in periodic.TASKS if t.name == "reconcile")

    first = periodic.offer(redis_conn, settings, reconcile, HOUR)
    backlogged = periodic.offer(redis_conn, settings, reconcile, HOUR + timedelta(minutes=5))  # not run yet

    assert first is not None and backlogged is None
    assert queue.job_ids == [first]


def test_a_real_worker_runs_each_periodic_job_against_the_fakes(settings, redis_conn, queue, worker_context,
                                                                kintone, mappings, drain):
    worker_context.clock = lambda: at(WEDNESDAY_MORNING)
    client = kintone.seed(CLIENTS, {"会社名": "株式会社サンプル物流", "法人番号": "9234567890123", "与信状態": "承認"})
    visited(kintone, client)
    order = kintone.seed(ORDERS, dict(COMPLETE_ORDER, 顧客レコード番号=client))  # its webhook was lost
    inquiry = seed(kintone, mappings, "inquiries", channel="HP", received_at=utc("2026-11-24T19:30"),
                   company_name="株式会社サンプル物流", sales_rep=SATO)
    application = kintone.seed(WORKFLOW, {
        "申請種別": "06_1 反社・与信チェック", "件名": "06_1_有限会社はじめて製作所反社/与信チェック申請書",
        "申請者": [{"code": "sato", "name": "佐藤"}], "上長": [{"code": "tanaka", "name": "田中"}],
        "申請日": "2026-11-16"}, status="取締役承認待ち")
    contract = kintone.seed(CONTRACTS, {"契約種別": "個別契約", "担当営業": SATO, "署名期限": "2026-11-24"},
                            status="署名依頼中")

    enqueued = periodic.PeriodicTicker(settings).tick(redis_conn)
    drain()

    assert {j.rsplit("-", 1)[0] for j in enqueued} == NAMES
    for job_id in enqueued:
        assert Job.fetch(job_id, connection=redis_conn, serializer=queue.serializer).get_status() == "finished"
    assert kintone.record_values(ORDERS, order)["ステータス"] == "上長承認待ち"  # reconcile, then its flow job
    [reminder] = [t for t in kintone.comment_texts(INQUIRIES, inquiry) if "が期限です" in t]  # deadlines
    assert "本日2026年11月25日（水）が期限です" in reminder  # (client_lookup, found by the sweep, spoke too)
    [delay] = kintone.comment_texts(WORKFLOW, application)  # workflow_delays
    assert "取締役：内容をご確認のうえ、「取締役承認」または「否認」を実行してください。" in delay  # it waits for them
    [overdue] = kintone.comment_texts(CONTRACTS, contract)  # open_envelopes
    assert "署名期限（2026年11月24日（火））を過ぎましたが" in overdue
    [kpi] = kintone.apps[KPI].records.values()  # retention_kpi: October, when nothing ended
    assert (kpi["集計キー"]["value"], kpi["更新対象数"]["value"]) == ("2026-10:全社:全社", "0")


def test_each_periodic_job_that_fails_shows_up_in_jobs_failed(settings, redis_conn, worker_context, kintone, cli,
                                                              drain):
    worker_context.clock = lambda: at(WEDNESDAY_MORNING)  # in business hours: every task reads kintone
    kintone.fail_next("get_records", KintoneAuthError("GET records.json: bad token", status=401, code="CB_AU01"),
                      times=100)
    envelopes.give_back(redis_conn, [("FORGED1", None)])  # an envelope waiting for its lookup

    periodic.PeriodicTicker(settings).tick(redis_conn)
    drain()

    rows = json.loads(cli("jobs", "failed", "--json").stdout)["failed"]
    # held_messages reads kintone only when a comment is held (none is): it finished.
    assert {r["flow"]: r["source"] for r in rows} == {name: "schedule" for name in NAMES - {"held_messages"}}
    reasons = {r["flow"]: r["reason"] for r in rows}
    assert reasons["reconcile"].startswith("ReconcileFailed: clients: [401] [CB_AU01]")
    assert reasons["deadlines"].startswith("SweepFailed: deadline rules not swept")
    assert reasons["workflow_delays"].startswith("KintoneAuthError: [401] [CB_AU01]")
    assert reasons["open_envelopes"].startswith("KintoneAuthError: [401] [CB_AU01]")
    assert reasons["envelope_lookups"].startswith("KintoneAuthError: [401] [CB_AU01]")
    assert reasons["retention_kpi"].startswith("KintoneAuthError: [401] [CB_AU01]")


def test_the_ticker_thread_offers_at_once_and_stops(settings, redis_conn, queue):
    ticker = periodic.PeriodicTicker(settings, connection=redis_conn, wake_seconds=0.01)
    ticker.start()
    deadline = time.monotonic() + 5
    while len(queue) < len(periodic.TASKS) and time.monotonic() < deadline:
        time.sleep(0.01)
    ticker.stop()
    ticker.join(timeout=5)

    assert not ticker.is_alive()
    assert sorted(j.rsplit("-", 1)[0] for j in queue.job_ids) == sorted(NAMES)  # many ticks, one job each


@pytest.mark.parametrize("name", ["KGBRIDGE_DEADLINE_SWEEP_SECONDS", "KGBRIDGE_WORKFLOW_DELAY_SWEEP_SECONDS",
                                  "KGBRIDGE_OPEN_ENVELOPE_CHECK_SECONDS", "KGBRIDGE_HELD_MESSAGE_SECONDS",
                                  "KGBRIDGE_GMOSIGN_LOOKUP_SECONDS", "KGBRIDGE_RETENTION_KPI_SECONDS"])
def test_an_interval_is_off_or_at_least_a_minute(monkeypatch, name):
    from kgbridge.settings import SettingsError, load_settings

    monkeypatch.setenv(name, "0")
    assert getattr(load_settings(connector_mode="fake"), name.removeprefix("KGBRIDGE_").lower()) == 0
    monkeypatch.setenv(name, "30")
    with pytest.raises(SettingsError, match=name):
        load_settings(connector_mode="fake")
