"""The reconcile schedule: every worker offers a sweep, one runs per interval.

Every worker runs a ReconcileTicker thread. Each tick (every few seconds) tries to take a shared
slot in Redis (SET NX EX interval); whoever gets it enqueues one sweep job, so several workers
still make one sweep per KGBRIDGE_RECONCILE_INTERVAL_SECONDS, and the sweep runs in a work horse
like any flow job (with the job timeout, in the logs, and in ``kgbridge jobs failed`` when it
cannot read kintone). The thread has its own Redis connection and logs through the standard
library only, so nothing it holds can be left locked in a forked work horse.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

import redis
import structlog

from kgbridge.jobs import make_queue
from kgbridge.ops.reconcile import sweep
from kgbridge.settings import Settings

SLOT_KEY = "kgbridge:reconcile:slot"
SWEEP_JOB = "kgbridge.ops.reconcile_schedule.run_scheduled_sweep"

log = structlog.get_logger("kgbridge.reconcile")


class ReconcileFailed(Exception):
    """A scheduled sweep could not read some app (the job fails with this reason)."""


def enqueue_scheduled_sweep(connection: redis.Redis, settings: Settings, now: datetime | None = None) -> str | None:
    """Enqueue this interval's sweep unless another worker already did; its job id or None."""
    interval = settings.reconcile_interval_seconds
    if interval <= 0 or not connection.set(SLOT_KEY, "1", nx=True, ex=interval):
        return None
    now = now or datetime.now(UTC)
    sweep_id = f"reconcile-{now.strftime('%Y%m%dT%H%M%S%f')}"
    make_queue(connection, settings).enqueue(
        SWEEP_JOB, job_id=sweep_id, unique=True, result_ttl=3600, failure_ttl=24 * 3600,
        description="reconcile sweep",
        meta={"flow": "reconcile", "app": "", "record_id": "", "source": "schedule", "attempts": []},
    )
    return sweep_id


def run_scheduled_sweep() -> str:
    """The RQ job: one sweep of every app with this process's connectors."""
    from rq import get_current_job

    from kgbridge.bootstrap import current_context
    from kgbridge.settings import load_settings

    job = get_current_job()
    settings = load_settings()
    context = current_context()
    connection = job.connection if job else None
    if connection is None:
        from kgbridge.bootstrap import redis_client

        connection = redis_client(settings)
    reports = sweep(settings=settings, mappings=context.mappings, kintone=context.kintone, connection=connection)
    failed = [f"{r.app}: {r.error}" for r in reports if r.error]
    total = sum(len(r.enqueued) for r in reports)
    log.info("reconcile sweep finished", count=total, calls=sum(r.calls for r in reports),
             outcome="failed" if failed else "ok")
    if failed:
        raise ReconcileFailed("; ".join(failed))
    return f"enqueued {total}"


class ReconcileTicker(threading.Thread):
    """Offers to enqueue a sweep every few seconds; the shared slot makes it one per interval."""

    def __init__(self, settings: Settings, connection: redis.Redis | None = None, wake_seconds: float | None = None):
        super().__init__(name="reconcile-ticker", daemon=True)
        self.settings = settings
        self.connection = connection
        self.wake_seconds = wake_seconds or min(15.0, float(settings.reconcile_interval_seconds))
        self._stop_event = threading.Event()

    def run(self) -> None:
        from kgbridge.bootstrap import redis_client

        connection = self.connection or redis_client(self.settings)
        while True:
            try:
                enqueue_scheduled_sweep(connection, self.settings)
            except Exception as exc:  # keep ticking; Redis may come back
                # stdlib logging: its locks are re-initialised in forked work horses.
                logging.getLogger("kgbridge.reconcile").warning("could not schedule a sweep: %s",
                                                                type(exc).__name__)
            if self._stop_event.wait(self.wake_seconds):
                return

    def stop(self) -> None:
        self._stop_event.set()
