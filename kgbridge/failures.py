"""How a failed flow job is treated: retry transient failures, stop at once on permanent ones.

RQ's ``Retry`` retries on any exception. This exception handler runs before RQ decides:
it records the attempt's error in the job's meta (for ``kgbridge jobs show``) and, when the
error is permanent (bad data, bad configuration, a bug), sets ``retries_left`` to 0 so the
job goes straight to the failed registry with its reason instead of a retry storm.
"""

from __future__ import annotations

from datetime import UTC, datetime

import redis
import structlog
from rq.exceptions import AbandonedJobError

from connectors.errors import Permanent, RetryLater
from kgbridge.history import record_run, record_task_run

MAX_ATTEMPTS_KEPT = 20


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, Permanent):
        return False
    # AbandonedJobError: the worker died mid-job (worker.py); the flow is safe to run again.
    return isinstance(exc, (RetryLater, AbandonedJobError, redis.ConnectionError, redis.TimeoutError,
                            ConnectionError, TimeoutError))


def describe(exc: BaseException) -> str:
    """One line naming the error class and its message (our errors carry no personal data)."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:500]


def handle_job_exception(job, exc_type, exc_value, _traceback) -> bool:
    transient = is_transient(exc_value)
    attempts = list(job.meta.get("attempts", []))
    attempts.append({"at": datetime.now(UTC).isoformat(timespec="seconds"),
                     "error": describe(exc_value), "transient": transient})
    job.meta["attempts"] = attempts[-MAX_ATTEMPTS_KEPT:]
    job.meta["reason"] = describe(exc_value)
    if not transient:
        job.retries_left = 0
    try:
        job.save_meta()
    except redis.RedisError:
        pass
    state = "retrying" if job.retries_left else "failed"  # what RQ does next (it retries while any are left)
    record_run(job.connection, job, state, describe(exc_value))
    if job.meta.get("source") == "schedule":  # a periodic task (kgbridge/periodic.py): not retried
        record_task_run(job.connection, job, ok=False, outcome=describe(exc_value))
    structlog.get_logger("kgbridge.job").warning(
        "job failed", job_id=job.id, flow=job.meta.get("flow"), app=job.meta.get("app"),
        record_id=job.meta.get("record_id"), error=describe(exc_value),
        outcome="will_retry" if state == "retrying" else "failed")
    return True  # let RQ's own handling continue
