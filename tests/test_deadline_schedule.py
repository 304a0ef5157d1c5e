"""The deadline sweep as a scheduled job, run by a real RQ worker."""

from __future__ import annotations

from rq import Queue
from rq.cron import CronScheduler
from rq.serializers import JSONSerializer

from kgbridge import deadline_schedule
from tests.records import SATO, at, seed, utc


def test_a_scheduled_sweep_runs_on_the_worker_once_per_time_slot(ctx, kintone, mappings, settings, redis_conn,
                                                                  drain):
    rid = seed(kintone, mappings, "inquiries", channel="HP", received_at=utc("2026-10-09T19:30"), sales_rep=SATO)
    ctx.clock = lambda: at("2026-10-13T09:00")
    queue = Queue(settings.queue_name, connection=redis_conn, serializer=JSONSerializer)

    assert deadline_schedule.enqueue_sweep(queue, settings, ctx.now())
    assert not deadline_schedule.enqueue_sweep(queue, settings, at("2026-10-13T09:01"))  # same slot
    drain()

    [comment] = kintone.apps["2"].comments[rid]
    assert "本日10月13日（火）が期限です" in comment.text
    assert queue.count == 0


def test_the_sweep_registers_on_rqs_cron_scheduler_at_the_configured_interval(settings, redis_conn):
    scheduler = CronScheduler(connection=redis_conn)

    job = deadline_schedule.register(scheduler, settings)

    assert job.func_name == deadline_schedule.SWEEP_JOB
    assert job.interval == settings.deadline_sweep_seconds and job.queue_name == settings.queue_name
