"""The deadline sweep as a scheduled job: the function a worker runs, and how it is scheduled.

``sweep_deadlines`` takes no arguments (any serializer carries it) and runs
``flows.deadlines.sweep`` on this process's context; the sweep itself takes a Redis lock, so
two workers or two schedulers never sweep at once, and it does nothing outside working time.

Scheduling: ``register(scheduler, settings)`` adds the sweep to a scheduler with RQ's
``CronScheduler.register`` signature, every ``KGBRIDGE_DEADLINE_SWEEP_SECONDS``;
``enqueue_sweep(queue, settings, now)`` enqueues one sweep for the current time slot (the job id
names the slot, so a second scheduler enqueuing the same slot adds nothing).
"""

from __future__ import annotations

from datetime import datetime

import structlog
from rq import Queue
from rq.exceptions import DuplicateJobError

from kgbridge.settings import Settings

SWEEP_JOB = "kgbridge.deadline_schedule.sweep_deadlines"
SWEEP_NAME = "deadline-sweep"
SWEEP_TIMEOUT_SECONDS = 30 * 60  # a first sweep may post many comments; the lock lasts as long


def sweep_deadlines() -> str:
    """The RQ job: send the reminders and escalations due now."""
    from flows import deadlines
    from kgbridge.bootstrap import current_context

    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(flow=deadlines.FLOW)
    outcome = deadlines.sweep(current_context())
    structlog.get_logger("kgbridge.job").info("job finished", outcome=outcome)
    return outcome


def register(scheduler, settings: Settings):
    """Run the sweep every ``deadline_sweep_seconds`` on ``scheduler`` (an ``rq.cron.CronScheduler``)."""
    return scheduler.register(sweep_deadlines, queue_name=settings.queue_name,
                              interval=settings.deadline_sweep_seconds, job_timeout=SWEEP_TIMEOUT_SECONDS,
                              result_ttl=settings.result_ttl_seconds, failure_ttl=settings.failure_ttl_seconds,
                              name=SWEEP_NAME)


def enqueue_sweep(queue: Queue, settings: Settings, now: datetime) -> bool:
    """Enqueue the sweep for the time slot of ``now``; False when that slot's sweep exists already."""
    slot = int(now.timestamp()) // settings.deadline_sweep_seconds
    try:
        queue.enqueue(SWEEP_JOB, job_id=f"{SWEEP_NAME}-{slot}", unique=True, job_timeout=SWEEP_TIMEOUT_SECONDS,
                      result_ttl=settings.result_ttl_seconds, failure_ttl=settings.failure_ttl_seconds,
                      description="deadline sweep", meta={"flow": "deadlines", "source": "schedule"})
    except DuplicateJobError:
        return False
    return True
