"""Periodic tasks: what the service runs on a clock, once per time slot however many workers run.

    task             job (this module)        every (setting, default; 0 turns it off)
    reconcile        reconcile                KGBRIDGE_RECONCILE_INTERVAL_SECONDS   300
    deadlines        sweep_deadlines          KGBRIDGE_DEADLINE_SWEEP_SECONDS       1800
    workflow_delays  sweep_workflow_delays    KGBRIDGE_WORKFLOW_DELAY_SWEEP_SECONDS 3600
    open_envelopes   check_open_envelopes     KGBRIDGE_OPEN_ENVELOPE_CHECK_SECONDS  3600
    held_messages    deliver_held_messages    KGBRIDGE_HELD_MESSAGE_SECONDS         300
    envelope_lookups look_up_envelopes        KGBRIDGE_GMOSIGN_LOOKUP_SECONDS       60
    retention_kpi    write_retention_kpi      KGBRIDGE_RETENTION_KPI_SECONDS        86400

Past KGBRIDGE_QUOTA_SLOWDOWN_SHARE of any app's daily kintone quota, the tasks named in
``kgbridge.quota.NON_URGENT`` run only in every KGBRIDGE_QUOTA_SLOWDOWN_FACTOR-th slot.

Time is cut into slots of each task's interval, counted from the Unix epoch (an hourly task's
slots start on the hour). Every worker (and the embedded mode) runs a PeriodicTicker thread that
wakes every few seconds and, for each task that is on, tries to take the current slot in Redis
(``SET NX`` on ``kgbridge:periodic:<task>:<slot>``, kept two intervals). Whoever takes it enqueues
one job with the id ``<task>-<slot>`` and ``unique=True``, so a slot key lost to a Redis restart
still cannot add a second job while the first is kept. A slot is skipped while the task's
previous job is still queued or running: a backlog never piles up sweeps behind it.

The job runs in a work horse like any flow job (job timeout, structured logs) and is not retried:
the next slot runs the task again. One that fails waits in ``kgbridge jobs failed`` with the
task's name as its flow, kept a day. The thread has its own Redis connection and logs through
the standard library only, so nothing it holds can be left locked in a forked work horse.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import redis
import structlog
from rq.exceptions import DuplicateJobError
from rq.job import Job

from kgbridge.history import Notes
from kgbridge.jobs import make_queue
from kgbridge.settings import Settings

SLOT_PREFIX = "kgbridge:periodic:slot"
LAST_PREFIX = "kgbridge:periodic:last"
RESULT_TTL_SECONDS = 3600
FAILURE_TTL_SECONDS = 24 * 3600  # the next slots run the task again; a day of failures is enough to see
_PENDING = {b"queued", b"started", b"scheduled", b"deferred"}

log = structlog.get_logger("kgbridge.periodic")  # in jobs only
_thread_log = logging.getLogger("kgbridge.periodic")  # in the ticker thread (see above)


@dataclass(frozen=True)
class PeriodicTask:
    name: str  # also the job's "flow" in kgbridge jobs failed
    job: str  # dotted path of a function without arguments returning an outcome
    interval_setting: str  # the Settings attribute: seconds between runs, 0 = off
    timeout: int  # job timeout in seconds: no longer than the lock the task itself takes
    description: str

    def interval(self, settings: Settings) -> int:
        return int(getattr(settings, self.interval_setting))


TASKS: tuple[PeriodicTask, ...] = (
    # ≤ kgbridge.ops.reconcile.LOCK_SECONDS
    PeriodicTask("reconcile", f"{__name__}.reconcile", "reconcile_interval_seconds", 600,
                 "reconcile sweep"),
    # = flows.deadlines.LOCK_SECONDS
    PeriodicTask("deadlines", f"{__name__}.sweep_deadlines", "deadline_sweep_seconds", 30 * 60,
                 "deadline sweep"),
    PeriodicTask("workflow_delays", f"{__name__}.sweep_workflow_delays", "workflow_delay_sweep_seconds", 600,
                 "稟議 delay sweep and credit re-checks"),
    # = flows.signature_status.CHECK_LOCK_SECONDS
    PeriodicTask("open_envelopes", f"{__name__}.check_open_envelopes", "open_envelope_check_seconds", 15 * 60,
                 "check of contracts awaiting signature"),
    # = flows.held_messages.LOCK_SECONDS
    PeriodicTask("held_messages", f"{__name__}.deliver_held_messages", "held_message_seconds", 10 * 60,
                 "delivery of comments held outside working time"),
    PeriodicTask("envelope_lookups", f"{__name__}.look_up_envelopes", "gmosign_lookup_seconds", 300,
                 "lookup of envelopes GMO Sign called about"),
    PeriodicTask("retention_kpi", f"{__name__}.write_retention_kpi", "retention_kpi_seconds", 600,
                 "延長率・終了率 of the previous month to the KPI app"),
)


def enabled(settings: Settings, tasks: Sequence[PeriodicTask] = TASKS) -> list[PeriodicTask]:
    return [t for t in tasks if t.interval(settings) > 0]


def slot_of(task: PeriodicTask, settings: Settings, now: datetime) -> int:
    return int(now.timestamp()) // task.interval(settings)


def _quota_skip(connection: redis.Redis, settings: Settings, task: PeriodicTask, slot: int) -> bool:
    """A non-urgent task skips all but every factor-th slot while an app is past the quota share."""
    from kgbridge import quota

    if task.name not in quota.NON_URGENT or settings.quota_slowdown_factor <= 1 or slot % settings.quota_slowdown_factor == 0:
        return False
    try:
        return quota.slowed(connection, settings)
    except redis.RedisError:
        return False


def slot_key(task: PeriodicTask, slot: int) -> str:
    return f"{SLOT_PREFIX}:{task.name}:{slot}"


def _previous_pending(connection: redis.Redis, task: PeriodicTask) -> str | None:
    last = connection.get(f"{LAST_PREFIX}:{task.name}")
    if not last:
        return None
    last_id = last.decode()
    return last_id if connection.hget(Job.key_for(last_id), "status") in _PENDING else None


def offer(connection: redis.Redis, settings: Settings, task: PeriodicTask, now: datetime | None = None) -> str | None:
    """Enqueue the task's job for the slot of ``now`` unless it is off or the slot was taken; its id or None."""
    interval = task.interval(settings)
    if interval <= 0:
        return None
    slot = slot_of(task, settings, now or datetime.now(UTC))
    if _quota_skip(connection, settings, task, slot):
        return None  # sparing the kintone quota (kgbridge/quota.py)
    if not connection.set(slot_key(task, slot), "1", nx=True, ex=2 * interval):
        return None
    pending = _previous_pending(connection, task)
    if pending:
        _thread_log.warning("periodic task %s skipped: its previous job %s has not finished", task.name, pending)
        return None
    job_id = f"{task.name}-{slot}"
    try:
        make_queue(connection, settings).enqueue(
            task.job, job_id=job_id, unique=True, job_timeout=task.timeout, result_ttl=RESULT_TTL_SECONDS,
            failure_ttl=min(FAILURE_TTL_SECONDS, settings.failure_ttl_seconds), description=task.description,
            meta={"flow": task.name, "app": "", "record_id": "", "source": "schedule", "marker": "",
                  "attempts": []})
    except DuplicateJobError:
        return None
    except Exception:
        connection.delete(slot_key(task, slot))  # let the next tick try this slot again
        raise
    connection.set(f"{LAST_PREFIX}:{task.name}", job_id, ex=max(2 * interval, task.timeout))
    return job_id


class PeriodicTicker(threading.Thread):
    """Offers every task that is on its slot every few seconds; Redis makes it once per slot."""

    def __init__(self, settings: Settings, connection: redis.Redis | None = None, wake_seconds: float | None = None,
                 tasks: Sequence[PeriodicTask] = TASKS):
        super().__init__(name="periodic-ticker", daemon=True)
        self.settings = settings
        self.connection = connection
        self.tasks = enabled(settings, tasks)
        shortest = min((t.interval(settings) for t in self.tasks), default=15)
        self.wake_seconds = wake_seconds or min(15.0, float(shortest))
        self._stop_event = threading.Event()

    def tick(self, connection: redis.Redis, now: datetime | None = None) -> list[str]:
        """Offer each task once; the ids of the jobs this ticker enqueued."""
        now = now or datetime.now(UTC)
        enqueued = []
        for task in self.tasks:
            try:
                job_id = offer(connection, self.settings, task, now)
            except Exception as exc:  # keep ticking; Redis may come back
                _thread_log.warning("could not offer %s: %s", task.name, type(exc).__name__)
                continue
            if job_id:
                enqueued.append(job_id)
        return enqueued

    def run(self) -> None:
        from kgbridge.bootstrap import redis_client
        from kgbridge.dispatch import FORK_GUARD

        connection = self.connection or redis_client(self.settings)
        while True:
            with FORK_GUARD:  # a work horse forked meanwhile inherits no lock this thread holds
                self.tick(connection)
            if self._stop_event.wait(self.wake_seconds):
                return

    def stop(self) -> None:
        self._stop_event.set()


def start_ticker(settings: Settings, connection: redis.Redis | None = None) -> PeriodicTicker | None:
    """Start the ticker thread; None when every task is off."""
    if not enabled(settings):
        return None
    ticker = PeriodicTicker(settings, connection=connection)
    ticker.start()
    return ticker


# -- the jobs ---------------------------------------------------------------------------------

class ReconcileFailed(Exception):
    """A scheduled sweep could not read some app (the job fails with this reason)."""


def _begin(name: str):
    """Bind the job's log context; return (job, flow context, settings, detail).

    The context's ``report`` collects what the task says it did (e.g. per deadline rule), which
    ``_finish`` keeps as the task's last run (kgbridge/history.py; a failed run is kept by
    kgbridge/failures.py)."""
    from rq import get_current_job

    from kgbridge.bootstrap import current_context, current_settings

    job = get_current_job()
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(flow=name, job_id=job.id if job else None)
    notes = Notes()
    return job, replace(current_context(), report=notes), current_settings(), notes.lines


def _finish(outcome: str, detail: list[str] | None = None) -> str:
    from rq import get_current_job

    from kgbridge.history import record_task_run

    job = get_current_job()
    if job is not None:
        record_task_run(job.connection, job, ok=True, outcome=outcome, detail=detail or [])
    structlog.get_logger("kgbridge.job").info("job finished", outcome=outcome)
    return outcome


def reconcile() -> str:
    """Sweep every app with record triggers for records whose webhook never arrived."""
    from kgbridge.bootstrap import redis_client
    from kgbridge.ops.reconcile import sweep

    job, context, settings, _ = _begin("reconcile")
    connection = job.connection if job is not None else redis_client(settings)
    reports = sweep(settings=settings, mappings=context.mappings, kintone=context.kintone, connection=connection)
    failed = [f"{r.app}: {r.error}" for r in reports if r.error]
    total = sum(len(r.enqueued) for r in reports)
    log.info("reconcile sweep finished", count=total, calls=sum(r.calls for r in reports),
             outcome="failed" if failed else "ok")
    if failed:
        raise ReconcileFailed("; ".join(failed))
    return _finish(f"enqueued {total}")


def sweep_deadlines() -> str:
    """Send the reminders and escalations due now."""
    from flows import deadlines, follow_up_issues

    _, context, _, detail = _begin("deadlines")
    outcome = deadlines.sweep(context)
    follow_up_issues.remind_overdue_issues(context)  # the 相談・課題 rows of staff follow-ups (seed 001)
    return _finish(outcome, detail)


def sweep_workflow_delays() -> str:
    """Ask for a 遅延理由 on overdue 稟議 applications and report given reasons, once each; open
    the re-check 06_1 of credit approvals about to lapse (flows/credit_check.py sweep_rechecks)."""
    from flows import credit_check, workflow

    _, context, _, detail = _begin("workflow_delays")
    if "workflow" not in context.mappings:
        return _finish("no_workflow_app")  # this company maps no 稟議 app
    outcome = workflow.sweep_delays(context)
    credit_check.sweep_rechecks(context)
    return _finish(outcome, detail)


def check_open_envelopes() -> str:
    """Apply envelope states GMO Sign did not announce; flag contracts past their 署名期限."""
    from flows import signature_status

    _, context, _, detail = _begin("open_envelopes")
    if "contracts" not in context.mappings:
        return _finish("no_contracts_app")
    return _finish(signature_status.check_open_envelopes(context), detail)


def deliver_held_messages() -> str:
    """Post the comments held outside working time (quiet hours), oldest first."""
    from flows import held_messages

    _, context, _, detail = _begin("held_messages")
    return _finish(held_messages.deliver_due(context), detail)


def look_up_envelopes() -> str:
    """Settle the envelopes GMO Sign called about that no contract was known to hold (batched)."""
    from kgbridge.bootstrap import redis_client
    from kgbridge.envelope_lookup import look_up_pending

    job, context, settings, detail = _begin("envelope_lookups")
    connection = job.connection if job is not None else redis_client(settings)
    counts = look_up_pending(context.kintone, context.mappings, connection, settings)
    return _finish(" ".join(f"{k}={v}" for k, v in counts.items()), detail)


def write_retention_kpi() -> str:
    """Upsert the previous month's 延長率 and 終了率 into the KPI app (flows/retention.py keep_kpi):
    the month's first run writes it, later runs only what changed since."""
    from flows import retention

    _, context, _, detail = _begin("retention_kpi")
    return _finish(retention.keep_kpi(context), detail)
